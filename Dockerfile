# tapstack in a container. Build:  docker build -t tapstack .
# Run (the TAP and its host-side address live in the host's namespace):
#   docker run --rm --network host --cap-add NET_ADMIN --device /dev/net/tun tapstack up
# then, on the host:  ping 10.0.0.2
#
# Stage 1 builds a static binary; stage 2 is an empty image holding only it.
# The binary needs no files at run time: no libc, no /etc, no shell. It only
# needs /dev/net/tun and CAP_NET_ADMIN (--privileged gives both too).
# Dockerfile.scratch is stage 2 alone, for a binary built outside Docker.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tapstack ./cmd/tapstack

FROM scratch
COPY --from=build /out/tapstack /tapstack
ENTRYPOINT ["/tapstack"]
CMD ["up"]
