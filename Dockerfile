# syntax=docker/dockerfile:1
# t3-probe: the probe (`run`), the far end (`echo`) and the one-shot checks, in one image.
#   docker build -t t3-probe .
#   docker run --rm -p 9464:9464 -v $PWD/probe.yaml:/etc/t3-probe/probe.yaml:ro t3-probe
#   docker run --rm t3-probe echo --listen 0.0.0.0:8080 --tcp-listen 0.0.0.0:9000
# Node 24 (the active LTS) on Debian 13 trixie; the tests run on Node 20, 22 and 24 (engines).
# Built and run in the test suite with podman: scripts/build-image.mjs, test/deploy/image.test.ts.
ARG NODE_IMAGE=node:24-trixie-slim

FROM ${NODE_IMAGE} AS build
# Only for builds whose npm registry sits behind a TLS-intercepting proxy: the path of that
# proxy's CA bundle, mounted into the build (scripts/build-image.mjs does this). Build stages only.
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
# tini as PID 1: forwards SIGTERM/SIGINT to node (which closes legs gracefully) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Non-root, numeric so Kubernetes runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 9464 8080 9000
# A young generation of up to 32 MiB per semi-space: with thousands of legs, the objects each
# heartbeat leaves in ws live about a second, and with Node's default (16 MiB) they are promoted and
# paid for in full collections that stall every leg (BENCHMARKS.md). A small probe never grows it.
# An old generation allowed to grow 30 % past what a full collection left: with little promoted,
# V8 picks its smallest factor (10 %), which with a 32 MiB young generation leaves so little headroom
# that it started a full collection at every scrape of 10,000 legs (README "Many legs").
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=32", "--heap-growing-percent=30", "/app/dist/cli.js"]
CMD ["run", "--config", "/etc/t3-probe/probe.yaml"]
