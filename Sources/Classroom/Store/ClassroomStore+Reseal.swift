import Federation
import Foundation
import SQLKit
import Storage

extension ClassroomStore {
    /// Seals again under `secrets`' current key what the scheduler keeps sealed — the seats' passwords and the
    /// Guacamole key — so that `mclouds secrets rotate --finish` can retire the old key without locking students out.
    /// Each row is written only if unchanged since read.
    /// - Returns: how many were sealed again, and how many are still sealed under another key (0 when done).
    @discardableResult
    public func reseal(with secrets: SecretBox) async throws -> (resealed: Int, remaining: Int) {
        var resealed = 0
        var remaining = 0
        let rows = try await database.withDatabase { db in
            try await db.raw("SELECT booking_id, session, seat, access FROM classroom_seats WHERE access IS NOT NULL").all().map {
                (
                    booking: try $0.decode(column: "booking_id", as: String.self), session: try $0.decode(column: "session", as: Int.self),
                    seat: try $0.decode(column: "seat", as: Int.self), text: try $0.decode(column: "access", as: String.self)
                )
            }
        }
        for row in rows {
            guard var access = try? JSONDecoder().decode(SeatAccess.self, from: Data(row.text.utf8)), try !secrets.isCurrent(access.sealedPassword)
            else { continue }
            access.sealedPassword = try secrets.seal(try secrets.open(access.sealedPassword))
            let new = String(decoding: try JSONEncoder().encode(access), as: UTF8.self)
            let changed = try await database.transaction { db in
                try await db.raw(
                    """
                    UPDATE classroom_seats SET access = \(bind: new) WHERE booking_id = \(bind: row.booking) AND session = \(bind: row.session)
                        AND seat = \(bind: row.seat) AND access = \(bind: row.text)
                    """
                ).run()
                return try await db.raw(
                    "SELECT access FROM classroom_seats WHERE booking_id = \(bind: row.booking) AND session = \(bind: row.session) AND seat = \(bind: row.seat)"
                ).first(decodingColumn: "access", as: String.self) == new
            }
            if changed { resealed += 1 } else { remaining += 1 }
        }
        if var gateway = try await guacamole(), try !secrets.isCurrent(gateway.sealedKey) {
            gateway.sealedKey = try secrets.seal(try secrets.open(gateway.sealedKey))
            try await setGuacamole(gateway)
            resealed += 1
        }
        if let gateway = try await guacamole(), try !secrets.isCurrent(gateway.sealedKey) { remaining += 1 }
        return (resealed, remaining)
    }
}
