import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * Who is at the other end of a client connection, as the client port saw
 * it: the remote address (for per-address limits such as Authenticate's)
 * and, on a TLS port that verified a client certificate, that
 * certificate's CommonName (etcd's AuthInfoFromTLS: with auth on, a call
 * without a token acts as the user the CN names).
 *
 * Most gRPC connections are handed to grpc-js as they are (see
 * client-port.ts): a call on one carries its own socket's identity, which
 * grpc-js reports (getPeer, and getAuthContext's certificate, which
 * grpc-js gives only for a socket whose certificate was verified).
 * The connections that need the :authority rewriter reach grpc-js over a
 * loopback hop, where grpc-js only sees 127.0.0.1 and no certificate. The
 * client port therefore records each hop's identity under the hop's local
 * port, which grpc-js reports as the call's peer, and forgets it when the
 * hop closes (HopIdentities.ofCall tells the two kinds of call apart).
 */
export interface ClientIdentity {
  /** The client's IP address ('unknown' if the socket had none). */
  readonly address: string;
  /** The verified client certificate's CommonName; undefined without one (cleartext, no certificate asked, none given, or no CN). */
  readonly commonName: string | undefined;
}

/** Loopback hops whose identity is remembered at once: one per open gRPC connection, and local ports cannot exceed this anyway. */
export const IDENTIFIED_HOPS_MAX = 65_536;

const UNKNOWN: ClientIdentity = { address: 'unknown', commonName: undefined };
/** Where a hop connects from (client-port.ts dials grpc-js on 127.0.0.1). */
const HOP_ADDRESS = '127.0.0.1';

/** "10.0.0.5:54321" -> "10.0.0.5", "::1:54321" -> "::1" (grpc-js writes no brackets); 'unknown' stays. */
function hostOfPeer(peer: string): string {
  const colon = peer.lastIndexOf(':');
  return colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? peer.slice(0, colon) : peer;
}

/** The identity of a socket accepted by the client port (a TLSSocket on a TLS port). */
export function identityOfSocket(socket: Socket): ClientIdentity {
  const address = socket.remoteAddress ?? 'unknown';
  const tls = socket as Partial<TLSSocket>;
  // Only a certificate the handshake verified against --trusted-ca-file names a user; `authorized` is false otherwise.
  if (tls.encrypted !== true || tls.authorized !== true || typeof tls.getPeerCertificate !== 'function') return { address, commonName: undefined };
  const commonName = tls.getPeerCertificate().subject?.CN;
  return { address, commonName: typeof commonName === 'string' && commonName !== '' ? commonName : undefined };
}

/** What identity lookups read from a grpc-js call (the unary and streaming calls have both). */
export interface GrpcCallTransport {
  getPeer(): string;
  getAuthContext(): { transportSecurityType?: string | undefined; sslPeerCertificate?: { subject?: { CN?: unknown } } | undefined };
}

/** The identities of the open loopback hops to grpc-js, by the hop's local port. */
export class HopIdentities {
  readonly #byPort = new Map<number, ClientIdentity>();

  /**
   * The identity of a call's connection. grpc-js reports a TLS socket's
   * certificate only if the handshake verified it ('ssl'): such a call came
   * straight from its client (a hop is cleartext). Otherwise a peer of
   * 127.0.0.1 on a hop's local port is that hop, and any other peer is the
   * client itself.
   *
   * A cleartext client on 127.0.0.1 whose port a hop also uses at that
   * moment (its far end differs) would be taken for the hop. That can lend
   * it only an address, never a name: a hop's identity has a CommonName
   * only on a port that verifies client certificates in the handshake, and
   * there every direct call is 'ssl'.
   */
  ofCall(call: GrpcCallTransport): ClientIdentity {
    const peer = call.getPeer();
    const authContext = call.getAuthContext();
    if (authContext.transportSecurityType === 'ssl') {
      const commonName = authContext.sslPeerCertificate?.subject?.CN;
      return { address: hostOfPeer(peer), commonName: typeof commonName === 'string' && commonName !== '' ? commonName : undefined };
    }
    const hop = hostOfPeer(peer) === HOP_ADDRESS ? this.ofPeer(peer) : UNKNOWN;
    return hop !== UNKNOWN ? hop : { address: hostOfPeer(peer), commonName: undefined };
  }

  /** Remembers the hop from local port `port`; false (and nothing remembered) past IDENTIFIED_HOPS_MAX. */
  register(port: number, identity: ClientIdentity): boolean {
    if (this.#byPort.size >= IDENTIFIED_HOPS_MAX && !this.#byPort.has(port)) return false;
    this.#byPort.set(port, identity);
    return true;
  }

  forget(port: number, identity: ClientIdentity): void {
    // A port is reused only after its hop closed; drop only what this hop put there.
    if (this.#byPort.get(port) === identity) this.#byPort.delete(port);
  }

  /** The identity behind a grpc-js peer string ("127.0.0.1:54321"); unknown when the hop is not (or no longer) known. */
  ofPeer(peer: string): ClientIdentity {
    const match = /:(\d+)$/.exec(peer);
    return (match && this.#byPort.get(Number(match[1]))) || UNKNOWN;
  }

  get size(): number {
    return this.#byPort.size;
  }
}

const HOPS_BY_MEMBER = new WeakMap<object, HopIdentities>();

/**
 * The client port's hop identities of one member (a process runs one member,
 * tests run several): kept here, beside the client port that fills them, so
 * the member itself knows nothing of the API's loopback hop.
 */
export function hopsOf(member: object): HopIdentities {
  let hops = HOPS_BY_MEMBER.get(member);
  if (hops === undefined) {
    hops = new HopIdentities();
    HOPS_BY_MEMBER.set(member, hops);
  }
  return hops;
}
