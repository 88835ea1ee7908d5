import CloudStack
import Hummingbird
import HummingbirdWebSocket
import NIOCore

extension Simulator {
    /// What a VNC server says first (RFB 3.8), and its one security type, None.
    static let rfbVersion = "RFB 003.008\n"
    static let rfbSecurityTypes: [UInt8] = [1, 1]

    /// The VM a console token opens while its session is unused, or nil.
    func consoleVM(token: String?) -> String? {
        guard let token else { return nil }
        return store.withLock { world in
            world.consoleTokens?[token].flatMap { world.vms[$0] }.flatMap { $0.vm.state == "Running" ? $0.vm.name ?? $0.vm.id : nil }
        }
    }

    /// Takes a console token's session: true once, for a Running VM (CloudStack's allowed-sessions set).
    func claimConsole(token: String?) -> Bool {
        guard let token else { return false }
        return store.withLock { world in
            guard let id = world.consoleTokens?[token], world.vms[id]?.vm.state == "Running" else { return false }
            world.consoleTokens![token] = nil
            return true
        }
    }

    /// The console proxy's page (`/resource/noVNC/vnc.html?token=…`) on the API router.
    func addConsolePage(to router: Router<SimulatorRequestContext>) {
        router.get("/resource/noVNC/vnc.html") { request, _ in
            guard let vm = self.consoleVM(token: request.uri.queryParameters.get("token").map { String($0) }) else {
                return Response(
                    status: .forbidden, headers: [.contentType: "text/html; charset=UTF-8"],
                    body: .init(
                        byteBuffer: ByteBuffer(string: "<!doctype html><title>Console</title><p>The console session is invalid or has expired.")))
            }
            let page =
                "<!doctype html><title>Console of \(vm)</title><p>Simulated noVNC console of \(vm) in \(self.configuration.regionName); its websocket is /websockify with the same token."
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=UTF-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
        }
    }

    /// The console websocket (`/websockify?token=…`): opened once per token; it speaks the first steps of RFB as the
    /// guest's VNC server would (its version, then, after the client's, the security types), then closes.
    func consoleWebSocketRouter() -> Router<BasicWebSocketRequestContext> {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws(
            "/websockify",
            shouldUpgrade: { request, _ in
                self.claimConsole(token: request.uri.queryParameters.get("token").map { String($0) }) ? .upgrade([:]) : .dontUpgrade
            }
        ) { inbound, outbound, _ in
            try await outbound.write(.binary(ByteBuffer(string: Self.rfbVersion)))
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case .binary(let buffer) = message, String(buffer: buffer).hasPrefix("RFB ") else { break }
                try await outbound.write(.binary(ByteBuffer(bytes: Self.rfbSecurityTypes)))
                break
            }
        }
        return router
    }
}
