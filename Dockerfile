# syntax=docker/dockerfile:1
# One image for every mode: `docker run beacon announce|dns|proxy|render|services ...`.

# The Node.js the image runs: the minor version of the `node` devDependency that the tests run on
# (package-lock.json), within package.json's engines. Bump them together; test/cli/runtime.test.ts
# checks that they agree.
ARG NODE_VERSION=24.21

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The `node` devDependency pins Node 24 for npm scripts on hosts with an older Node; the image
# already is Node 24, so the build skips scripts and runs the compiler directly.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# Ports below 1024 (DNS on 53, HTTP on 80) without root.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
    && setcap 'cap_net_bind_service=+ep' "$(command -v node)" \
    && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
USER node
EXPOSE 53/udp 53/tcp 80
# Every long-running mode serves /healthz when started with --admin (BEACON_ADMIN); the image
# turns it on by default on loopback port 9100 so the check works for each mode.
ENV BEACON_ADMIN=127.0.0.1:9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.BEACON_ADMIN||'127.0.0.1:9100').split(':').pop()+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
