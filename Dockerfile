# One image for every role: docker run feedsvc serve --role=api|fanout|all
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /feedsvc .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /feedsvc /feedsvc
# The admin listener (metrics, pprof) on every interface of the container:
# publish it to the cluster network only, never the internet.
ENV FEEDSVC_DATA_DIR=/data FEEDSVC_HTTP_ADDR=0.0.0.0:8080 FEEDSVC_ADMIN_ADDR=0.0.0.0:9090
EXPOSE 8080 9090
ENTRYPOINT ["/feedsvc"]
CMD ["serve", "--role=all"]
