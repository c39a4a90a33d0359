/** Advisory lock key of the collector: one replica collects at a time. ("maas" "coll" as ASCII.) */
export const COLLECTOR_LOCK_KEY = 0x6d616173636f6c6cn;
