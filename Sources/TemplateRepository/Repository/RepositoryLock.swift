import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An advisory file lock (`flock`) on `DATA/repository.lock` between processes: publishes and commits
/// hold it shared, garbage collection holds it exclusive, so `gc` never removes a chunk a publish is
/// about to reference.
struct RepositoryLock: Sendable {
    let path: String

    /// Runs `body` holding the lock shared.
    func shared<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        try await holding(LOCK_SH, onWait: nil, body)
    }

    /// Runs `body` holding the lock exclusively; `onWait` is called once if others hold it.
    func exclusive<R: Sendable>(onWait: (@Sendable () -> Void)? = nil, _ body: () async throws -> R) async throws -> R {
        try await holding(LOCK_EX, onWait: onWait, body)
    }

    /// Runs `body` holding the lock exclusively if nobody holds it now; `nil` (and `body` not run) otherwise.
    func ifFree<R: Sendable>(_ body: () async throws -> R) async throws -> R? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TemplateRepositoryError.storeFailure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return nil }
        return try await body()
    }

    private func holding<R: Sendable>(_ operation: Int32, onWait: (@Sendable () -> Void)?, _ body: () async throws -> R) async throws -> R {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TemplateRepositoryError.storeFailure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }  // closing releases the lock
        var told = false
        while flock(fd, operation | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw TemplateRepositoryError.storeFailure(path: path, reason: String(cString: strerror(errno)))
            }
            if !told {
                onWait?()
                told = true
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await body()
    }
}
