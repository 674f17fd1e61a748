#!/bin/sh
# Regenerates the X.509 test material of this directory (test keys only).
# Run from this directory with OpenSSL 3: sh gen.sh
# Validity: 100 years from the day of generation (36500 days), except
# a-expired (1 day); the tests judge validity with a fixed clock.
set -eu
days=36500

key() { # key <name> <ec-curve|rsa>
    case "$2" in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key.pem" ;;
    *) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" -out "$1.key.pem" ;;
    esac
}

ca_ext() { # ca_ext <pathlen or empty>
    printf 'basicConstraints=critical,CA:true%s\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' "$1"
}

root() { # root <name> <cn>
    key "$1" P-256
    openssl req -new -x509 -key "$1.key.pem" -subj "/O=ike test/CN=$2" -days $days \
        -sha256 -addext "basicConstraints=critical,CA:true" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt.pem"
}

issue() { # issue <cert> <key> <issuer> <subject> <extensions> <days>
    openssl req -new -key "$2.key.pem" -subj "$4" -out "$1.csr"
    printf '%b' "$5" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.crt.pem" -CAkey "$3.key.pem" -CAcreateserial \
        -sha256 -days "$6" -extfile "$1.ext" -out "$1.crt.pem"
    rm -f "$1.csr" "$1.ext"
}

ee_ext() { # ee_ext <dns> <ip> [extra line]
    printf 'basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:%s,IP:%s\n%s' "$1" "$2" "${3:-}"
}

root root "ike test root CA"
root evil "ike test evil CA"

key sub P-256
issue sub sub root "/O=ike test/CN=ike test intermediate CA" \
    "$(ca_ext ',pathlen:0')" $days

key a P-256
key b P-256
key other P-256
key b384 P-384
key arsa rsa

A="/O=ike test/CN=a.test"
B="/O=ike test/CN=b.test"
issue a a root "$A" "$(ee_ext a.test 192.0.2.1)" $days
# B's certificate comes from the intermediate and carries serverAuth.
issue b b sub "$B" "$(ee_ext b.test 198.51.100.2 'extendedKeyUsage=serverAuth\n')" $days
issue b-direct b root "$B" "$(ee_ext b.test 198.51.100.2)" $days
issue b384 b384 root "$B" "$(ee_ext b.test 198.51.100.2)" $days
issue a-rsa arsa root "$A" "$(ee_ext a.test 192.0.2.1)" $days
issue a-expired a root "$A" "$(ee_ext a.test 192.0.2.1)" 1
issue a-evil a evil "$A" "$(ee_ext a.test 192.0.2.1)" $days
issue a-otherkey other root "$A" "$(ee_ext a.test 192.0.2.1)" $days
issue a-codesign a root "$A" "$(ee_ext a.test 192.0.2.1 'extendedKeyUsage=codeSigning\n')" $days
issue a-wrongname a root "/O=ike test/CN=c.test" "$(ee_ext c.test 192.0.2.99)" $days
issue a-email a root "$A" "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:a.test,email:alice@A.test,email:other@a.test\n" $days
# ecdsa-with-SHA1: refused by rustls-webpki.
openssl req -new -key a.key.pem -subj "$A" -out a-sha1.csr
ee_ext a.test 192.0.2.1 > a-sha1.ext
openssl x509 -req -in a-sha1.csr -CA root.crt.pem -CAkey root.key.pem -CAcreateserial \
    -sha1 -days $days -extfile a-sha1.ext -out a-sha1.crt.pem
rm -f a-sha1.csr a-sha1.ext
issue a-ipsecike a root "$A" "$(ee_ext a.test 192.0.2.1 'extendedKeyUsage=1.3.6.1.5.5.7.3.17\n')" $days

for c in *.crt.pem; do openssl x509 -in "$c" -outform DER -out "${c%.pem}.der"; done
# PKCS#8 keys are what the engine loads; the RSA key also as PKCS#1.
openssl pkey -in arsa.key.pem -traditional -out arsa.rsa.pem 2>/dev/null ||
    openssl rsa -in arsa.key.pem -traditional -out arsa.rsa.pem
# SEC 1 ("EC PRIVATE KEY") copies of two EC keys.
openssl ec -in a.key.pem -out a.sec1.pem
openssl ec -in b384.key.pem -out b384.sec1.pem
openssl ec -in a.key.pem -param_enc explicit -out a.explicit.pem
rm -f *.srl evil.key.pem
# A CA and an end entity made by strongSwan's pki (no EKU, no key usage,
# no basic constraints on the end entity; SEC 1 key), as strongSwan users
# have them. 24000 days: pki's lifetime arithmetic overflows beyond ~2^31 s.
if command -v pki >/dev/null; then
    pki --gen --type ecdsa --size 256 --outform pem > sw-ca.key.pem
    pki --self --ca --lifetime 24000 --in sw-ca.key.pem --type ecdsa \
        --dn "O=ike test, CN=strongSwan test CA" --outform der > sw-ca.crt.der
    pki --gen --type ecdsa --size 256 --outform pem > sw-a.key.pem
    pki --pub --in sw-a.key.pem --type ecdsa | pki --issue --lifetime 24000 \
        --cacert sw-ca.crt.der --cakey sw-ca.key.pem --dn "O=ike test, CN=a.test" \
        --san a.test --san 192.0.2.1 --outform der > sw-a.crt.der
    rm -f sw-ca.key.pem
fi

# Known answer for CERTREQ (RFC 7296 3.7): SHA-1 of the CA's DER
# SubjectPublicKeyInfo, as hex.
for ca in root sub; do
    openssl x509 -in "$ca.crt.pem" -pubkey -noout | openssl pkey -pubin -outform DER |
        openssl dgst -sha1 -r | cut -d' ' -f1 > "$ca.spki.sha1"
done
# Known answer for ID_DER_ASN1_DN: a.test's subject Name as DER, cut out of
# the certificate: the 4th SEQUENCE at depth 2 of tbsCertificate (after
# signature, issuer, validity) per `openssl asn1parse`.
set -- $(openssl asn1parse -in a.crt.pem |
    awk '/d=2/ && /SEQUENCE/ {n++; if (n == 4) {split($0, f, ":"); off = f[1] + 0;
        match($0, /hl= *[0-9]+/); hl = substr($0, RSTART + 3) + 0;
        match($0, / l= *[0-9]+/); l = substr($0, RSTART + 3) + 0; print off, hl + l; exit}}')
dd if=a.crt.der of=a.subject.der bs=1 skip="$1" count="$2" 2>/dev/null
