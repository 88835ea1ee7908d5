import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `CONNECT` (this server is no proxy) with a complete `405` and closes the connection, before the
/// request reaches the router. A response to `CONNECT` carries no framing headers (RFC 9110 §9.3.6), so
/// without the close a client would wait for a body that never ends; after a `CONNECT` head the decoder
/// no longer parses the stream as HTTP either.
final class ConnectRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private var refusing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .head(let head) = part, head.method == .connect {
            refusing = true
            var fields = HTTPFields()
            fields[.allow] = "GET, HEAD, POST, PUT, PATCH, DELETE"
            fields[.connection] = "close"
            fields[.server] = "mclouds"
            context.write(wrapOutboundOut(.head(HTTPResponse(status: .methodNotAllowed, headerFields: fields))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        guard !refusing else { return }
        context.fireChannelRead(data)
    }
}
