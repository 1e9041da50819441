# syntax=docker/dockerfile:1
# direktiv-dispatch image: docker build -t direktiv-dispatch:0.1.0 .   (see docs/operations.md)

# The runtime's glibc must be at least the builder's: both stages are Ubuntu 24.04 (noble).
ARG SWIFT_IMAGE=swift:6.2-noble
ARG RUNTIME_IMAGE=ubuntu:noble

FROM ${SWIFT_IMAGE} AS build
WORKDIR /build

# Dependencies first, so a source change does not fetch them again. Package.resolved is not
# committed (.gitignore); the [d] glob lets this COPY work with or without it.
COPY Package.swift Package.resolve[d] ./
RUN if [ -f Package.resolved ]; then swift package resolve --force-resolved-versions; \
    else swift package resolve; fi

COPY . .
# --static-swift-stdlib links the Swift runtime and Foundation in; what stays dynamic is glibc,
# libstdc++/libgcc (the Swift runtime is C++) and zlib (AsyncHTTPClient's NIOHTTPCompression).
# TLS is swift-nio-ssl's bundled BoringSSL, so no libssl; FoundationNetworking (libcurl) and
# FoundationXML (libxml2) are not used.
RUN swift build -c release --product direktiv-dispatch --static-swift-stdlib \
 && mkdir -p /staging/bin /staging/libexec \
 && bin="$(swift build -c release --show-bin-path)" \
 && cp "$bin/direktiv-dispatch" /staging/bin/ \
 && find -L "$bin/" -maxdepth 1 -name '*.resources' -exec cp -Ra {} /staging/bin/ \; \
 && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/libexec/

FROM ${RUNTIME_IMAGE}
# ubuntu rather than distroless: same glibc as the builder, zlib and libstdc++ already present,
# and /bin/sleep for the chart's preStop hook on Kubernetes < 1.30.
# Versions are not pinned: the base image tag decides them, and security updates should land.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libstdc++6 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin nonroot

# Resource bundles (if any) must sit next to the executable for Bundle.module to find them.
COPY --from=build /staging/bin/ /usr/local/bin/
COPY --from=build /staging/libexec/swift-backtrace-static /usr/local/libexec/swift-backtrace-static

# A crash prints a symbolicated backtrace of every thread to stderr; nothing is written to disk.
ENV SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/usr/local/libexec/swift-backtrace-static

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
EXPOSE 8443 8080 9090 9091
ENTRYPOINT ["direktiv-dispatch", "serve"]
