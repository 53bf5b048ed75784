/** The etcd API version keel answers as (Status, /version): the etcd 3.4 API it implements. */
export const ETCD_API_VERSION = '3.4.0';
/** Keel's own version, reported beside it. */
export const KEEL_VERSION = '0.1.0';
