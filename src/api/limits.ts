/** Bounds of the client API that are not etcd's request limits (CONVENTIONS rule 5). */

/**
 * Bytes of one Maintenance.Snapshot message's blob. etcd sends 32 KiB; 64 KiB
 * halves the per-message overhead and stays far below gRPC's default 4 MiB
 * receive limit of any client.
 */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

/**
 * Snapshot streams served at once by one member. Each holds a full copy of
 * the state's bytes until it finishes, so they are bounded; beyond this a
 * call is refused as overloaded (RESOURCE_EXHAUSTED, retry later).
 */
export const SNAPSHOT_STREAMS_MAX = 2;
