# livegate: one static binary. Build: docker build -t livegate .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/livegate ./cmd/livegate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/livegate /livegate
VOLUME /data
EXPOSE 8080 9090
ENTRYPOINT ["/livegate"]
CMD ["serve"]
