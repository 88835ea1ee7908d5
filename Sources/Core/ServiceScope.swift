import Logging
import ServiceLifecycle

/// Services that run only for the duration of a piece of work (a one-shot command, a test).
public enum ServiceScope {
    /// Runs `services` in a `ServiceGroup`, waits for `ready`, runs `body`, then shuts the services down
    /// gracefully — also when `body` throws — and returns or rethrows what `body` gave.
    public static func withRunning<T: Sendable>(
        _ services: [any Service], logger: Logger, ready: () async -> Void = {}, _ body: () async throws -> T
    ) async throws -> T {
        let group = ServiceGroup(services: services, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await ready()
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}
