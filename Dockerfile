# One image for every role: docker run feedsvc serve --role=api|fanout|all
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_TIME=$(git log -1 --format=%cI) -t feedsvc .
#
# The build context has no .git (.dockerignore), so the commit and its time
# come in as build arguments; `feedsvc version` and feedsvc_build_info show
# them. The Go version matches go.mod's go directive.
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.3.0-dev COMMIT="" BUILD_TIME=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/feedsvc/feedsvc/internal/buildinfo.Version=${VERSION} -X github.com/feedsvc/feedsvc/internal/buildinfo.Commit=${COMMIT} -X github.com/feedsvc/feedsvc/internal/buildinfo.Time=${BUILD_TIME}" \
      -o /out/feedsvc . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/feedsvc /feedsvc
# The embedded default keeps its broker, store and JWT secret here: a
# directory the nonroot user (65532) owns, so `docker run` works as is (mount
# a volume on it to keep data across containers).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# The admin listener (metrics, pprof) on every interface of the container:
# publish it to the cluster network only, never the internet.
ENV FEEDSVC_DATA_DIR=/data FEEDSVC_HTTP_ADDR=0.0.0.0:8080 FEEDSVC_ADMIN_ADDR=0.0.0.0:9090
VOLUME /data
EXPOSE 8080 9090
ENTRYPOINT ["/feedsvc"]
CMD ["serve", "--role=all"]
