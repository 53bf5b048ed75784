# syntax=docker/dockerfile:1
#
# keel in a container: `docker build -t keel .`, then `docker run keel node ...`
# or `docker run keel gateway --config ...` (the entrypoint is `keel`).
# docs/deploy.md has a 3-member cluster with docker, systemd and Kubernetes.

ARG NODE_VERSION=20

# Build on the full Debian image: it has python3, make and g++, which
# node-gyp needs for native addons (a later fs-ext would be one).
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY sim ./sim
COPY src ./src
# Build with the dev dependencies (TypeScript), then drop them; native
# addons stay built for this Debian release, which the runtime image shares.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run on the slim image of the same Debian release and Node major.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
# A member's young generation at 8 MiB semi-spaces, not Node 20's 16: shorter
# scavenges under a write load; and an old generation allowed 256 MB before
# its first full collection, so a small heap is not fully marked for every
# few MiB of large buffers (src/cli/up.ts MEMBER_NODE_FLAGS, issue 14).
ENV NODE_OPTIONS="--max-semi-space-size=8 --initial-old-space-size=256"
# Large buffers (a MiB value's request, entry, WAL batch, peer frames) from
# malloc's heap, reused, rather than a fresh mmap each, touched a page fault
# at a time (src/cli/up.ts MEMBER_MALLOC_ENV).
ENV MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456
# A dedicated user with a fixed numeric id, so Kubernetes' runAsNonRoot can
# verify it and a volume can be given to it (fsGroup 10001).
RUN groupadd --system --gid 10001 keel \
 && useradd --system --uid 10001 --gid keel --home-dir /var/lib/keel --shell /usr/sbin/nologin keel \
 && mkdir -p /var/lib/keel \
 && chown keel:keel /var/lib/keel
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/proto ./proto
COPY --from=build /app/dist ./dist
USER 10001:10001
# A member's WAL, snapshots and member.json (`keel node --data-dir /var/lib/keel`).
VOLUME ["/var/lib/keel"]
# 2379 member client API (etcd gRPC + JSON, /livez, /readyz, /metrics),
# 2380 member peers (raft), 8080 gateway listener, 9901 gateway admin.
EXPOSE 2379 2380 8080 9901
# The slim image has no curl: Node's own fetch asks /livez. A member answers
# it on its client port (2379); for a gateway, or a member on another port,
# set KEEL_HEALTHCHECK_URL (the gateway's is http://127.0.0.1:9901/livez on
# its admin port).
ENV KEEL_HEALTHCHECK_URL=http://127.0.0.1:2379/livez
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.KEEL_HEALTHCHECK_URL, { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains: a member hands leadership away, flushes and exits 0;
# give `docker stop` time for it (docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
