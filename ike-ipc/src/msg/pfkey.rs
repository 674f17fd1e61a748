//! Messages between ike-net and ike-pfkey (owned by the "pfkey" helper).
