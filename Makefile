# Build and install ike. Works with BSD make and GNU make.
#
#   make                      build the release binaries (cargo)
#   make install              binaries, manual pages, examples, /etc/ike
#   make install-rc           the rc script of this system (OpenBSD rc.d,
#                             FreeBSD rc.d or a systemd unit)
#
# PREFIX and DESTDIR as ports and packages expect:
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
# BUILD is where the binaries are (CARGO_TARGET_DIR/release if you set that).
#
# OS picks the layout of that system (default: this one, uname -s); set it to
# stage another system's layout, e.g. make install OS=FreeBSD DESTDIR=...
#   OpenBSD  configuration in /etc/ike, manuals in PREFIX/man (hier(7))
#   FreeBSD  configuration in PREFIX/etc/ike, manuals in PREFIX/share/man
#            (hier(7): local configuration belongs under /usr/local/etc)
#   Linux    configuration in /etc/ike, manuals in PREFIX/share/man (FHS)
# ike-parent's built-in default (-f) is the same per system.

OS !=		uname -s
PREFIX ?=	/usr/local
SBINDIR ?=	${PREFIX}/sbin
LIBEXECDIR ?=	${PREFIX}/libexec/ike
MANDIR_OpenBSD =	${PREFIX}/man
MANDIR_FreeBSD =	${PREFIX}/share/man
MANDIR_Linux =	${PREFIX}/share/man
MANDIR ?=	${MANDIR_${OS}}
EXAMPLESDIR ?=	${PREFIX}/share/examples/ike
SYSCONFDIR_OpenBSD =	/etc
SYSCONFDIR_FreeBSD =	${PREFIX}/etc
SYSCONFDIR_Linux =	/etc
SYSCONFDIR ?=	${SYSCONFDIR_${OS}}
SYSTEMDDIR ?=	/lib/systemd/system
DESTDIR ?=
BUILD ?=	target/release
CARGO ?=	cargo
INSTALL ?=	install

SBIN_PROGS =	ike-parent ike-ctl pf-to-fd pf-to-tcp pfkey-sim ike-dump
LIBEXEC_PROGS =	ike-net ike-pfkey ike-cred
MAN5 =		man/ike.conf.5
MAN8 =		man/ike-parent.8 man/ike-ctl.8 man/pf-to-fd.8
EXAMPLES =	etc/ike.conf etc/examples/*.conf

# Fills in the paths of this installation in the rc scripts.
SUBST =	sed -e 's|@PREFIX@|${PREFIX}|g' -e 's|@SBINDIR@|${SBINDIR}|g' \
	    -e 's|@LIBEXECDIR@|${LIBEXECDIR}|g' -e 's|@SYSCONFDIR@|${SYSCONFDIR}|g'

all:
	${CARGO} build --release --workspace --bins

install: layout
	@for p in ${SBIN_PROGS} ${LIBEXEC_PROGS}; do \
		test -x ${BUILD}/$$p || { echo "${BUILD}/$$p missing: run make first" >&2; exit 1; }; \
	done
	${INSTALL} -d -m 755 ${DESTDIR}${SBINDIR} ${DESTDIR}${LIBEXECDIR} \
	    ${DESTDIR}${MANDIR}/man5 ${DESTDIR}${MANDIR}/man8 ${DESTDIR}${EXAMPLESDIR}/rc
	for p in ${SBIN_PROGS}; do \
		${INSTALL} -m 555 ${BUILD}/$$p ${DESTDIR}${SBINDIR}/$$p || exit 1; \
	done
	for p in ${LIBEXEC_PROGS}; do \
		${INSTALL} -m 555 ${BUILD}/$$p ${DESTDIR}${LIBEXECDIR}/$$p || exit 1; \
	done
	${INSTALL} -m 444 ${MAN5} ${DESTDIR}${MANDIR}/man5/
	${INSTALL} -m 444 ${MAN8} ${DESTDIR}${MANDIR}/man8/
	${INSTALL} -m 444 ${EXAMPLES} ${DESTDIR}${EXAMPLESDIR}/
	${SUBST} etc/rc.d/openbsd/ike > ${DESTDIR}${EXAMPLESDIR}/rc/ike.openbsd
	${SUBST} etc/rc.d/freebsd/ike > ${DESTDIR}${EXAMPLESDIR}/rc/ike.freebsd
	${SUBST} etc/systemd/ike.service > ${DESTDIR}${EXAMPLESDIR}/rc/ike.service
	# The configuration directory: private keys inside must stay private.
	${INSTALL} -d -m 700 ${DESTDIR}${SYSCONFDIR}/ike ${DESTDIR}${SYSCONFDIR}/ike/private
	${INSTALL} -d -m 755 ${DESTDIR}${SYSCONFDIR}/ike/pubkeys

# An unknown OS has no layout: say so instead of installing to odd places.
layout:
	@test -n "${SYSCONFDIR}" -a -n "${MANDIR}" || { \
		echo "no install layout for OS=${OS}: use OpenBSD, FreeBSD or Linux," \
		    "or set SYSCONFDIR and MANDIR" >&2; exit 1; }

install-rc: layout
	@case "${OS}" in \
	OpenBSD) \
		${INSTALL} -d -m 755 ${DESTDIR}/etc/rc.d && \
		${SUBST} etc/rc.d/openbsd/ike > ${DESTDIR}/etc/rc.d/ike && \
		chmod 555 ${DESTDIR}/etc/rc.d/ike && echo "installed ${DESTDIR}/etc/rc.d/ike";; \
	FreeBSD) \
		${INSTALL} -d -m 755 ${DESTDIR}${PREFIX}/etc/rc.d && \
		${SUBST} etc/rc.d/freebsd/ike > ${DESTDIR}${PREFIX}/etc/rc.d/ike && \
		chmod 555 ${DESTDIR}${PREFIX}/etc/rc.d/ike && \
		echo "installed ${DESTDIR}${PREFIX}/etc/rc.d/ike";; \
	Linux) \
		${INSTALL} -d -m 755 ${DESTDIR}${SYSTEMDDIR} && \
		${SUBST} etc/systemd/ike.service > ${DESTDIR}${SYSTEMDDIR}/ike.service && \
		chmod 444 ${DESTDIR}${SYSTEMDDIR}/ike.service && \
		echo "installed ${DESTDIR}${SYSTEMDDIR}/ike.service";; \
	*) echo "no rc script for ${OS}" >&2; exit 1;; \
	esac

uninstall: layout
	for p in ${SBIN_PROGS}; do rm -f ${DESTDIR}${SBINDIR}/$$p; done
	for p in ${LIBEXEC_PROGS}; do rm -f ${DESTDIR}${LIBEXECDIR}/$$p; done
	rm -f ${DESTDIR}${MANDIR}/man5/ike.conf.5
	rm -f ${DESTDIR}${MANDIR}/man8/ike-parent.8 ${DESTDIR}${MANDIR}/man8/ike-ctl.8 \
	    ${DESTDIR}${MANDIR}/man8/pf-to-fd.8
	rm -rf ${DESTDIR}${EXAMPLESDIR}

.PHONY: all install install-rc uninstall layout
