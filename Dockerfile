# Warden: multi-stage build on the official Node 20 image.
# Build:  docker build -t warden .
# Run:    docker run --rm -p 127.0.0.1:8080:8080 -v warden-data:/var/lib/warden warden
FROM node:20-bookworm-slim AS build
WORKDIR /src
# re2 compiles from source (node-gyp): toolchain only in this stage.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proxy ./proxy
COPY test ./test
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/warden
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/proxy ./dist/proxy
COPY dlp-patterns ./dlp-patterns
COPY config ./config
COPY docker/warden.yaml /etc/warden/warden.yaml
RUN ln -s /opt/warden/dist/proxy/cli.js /usr/local/bin/warden && chmod +x dist/proxy/cli.js \
 && groupadd --system warden && useradd --system --gid warden --home-dir /var/lib/warden warden \
 && mkdir -p /var/lib/warden/ca /var/lib/warden/audit && chown -R warden:warden /var/lib/warden && chmod 700 /var/lib/warden/ca
USER warden
VOLUME ["/var/lib/warden"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:9090/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["warden"]
CMD ["start", "--config", "/etc/warden/warden.yaml"]
