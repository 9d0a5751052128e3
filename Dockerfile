# livegate: one static binary. Build: docker build -t livegate .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/livegate ./cmd/livegate \
 && mkdir -p /out/data /out/nginx \
 && chmod 0700 /out/data /out/nginx

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/livegate /livegate
# Mount points owned by the nonroot user, so that fresh named volumes mounted there are
# writable, and only by it (0700; both hold secrets): /data (the SQLite store), /nginx (where
# `rtmp nginx-conf --out` writes nginx.conf).
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY --from=build --chown=nonroot:nonroot /out/nginx /nginx
VOLUME /data
EXPOSE 8080 9090
ENTRYPOINT ["/livegate"]
CMD ["serve"]
