# callvault production image: non-root, ffmpeg from Debian, health check on /healthz.
#   docker build -t callvault .
#   docker run -p 3000:3000 -v callvault-data:/var/lib/callvault -e CALLVAULT_GENERIC_SECRET=... callvault
# Node 22 LTS: the project is tested on Node 20 and uses nothing that changed in 22; Node 20 is
# past its end of life, so the image does not ship it.

FROM node:22-bookworm-slim AS build
WORKDIR /app
# sqlite3 compiles its native module when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY src ./src
COPY storage-adapters ./storage-adapters
RUN npm run build:prod && npm prune --omit=dev

FROM node:22-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 callvault \
 && useradd --system --uid 10001 --gid callvault --home-dir /var/lib/callvault --shell /usr/sbin/nologin callvault \
 && mkdir -p /var/lib/callvault \
 && chown callvault:callvault /var/lib/callvault \
 && chmod 700 /var/lib/callvault
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
ENV NODE_ENV=production \
    CALLVAULT_DATA_DIR=/var/lib/callvault \
    PORT=3000
USER callvault
VOLUME ["/var/lib/callvault"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "dist/src/cli/main.js"]
CMD ["serve"]
