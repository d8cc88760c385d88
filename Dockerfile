# mimamori with Debian's Chromium (for evidence screenshots).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/mimamori ./cmd/mimamori

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends chromium ca-certificates fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/mimamori mimamori
COPY --from=build /out/mimamori /usr/local/bin/mimamori
USER mimamori
WORKDIR /var/lib/mimamori
ENTRYPOINT ["mimamori"]
CMD ["run", "--config", "/etc/mimamori/mimamori.yaml"]
