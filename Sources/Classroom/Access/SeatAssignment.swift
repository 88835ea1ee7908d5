/// Which student sits on which seat: a pure plan, so the rules are tested without a database.
public enum SeatAssignment {
    /// The changes that put `roster` on `seats` (seat number, current student): a student keeps their seat; a seat
    /// whose student left the roster (or holds a student twice) is freed; students without a seat take the free
    /// seats in order, usernames sorted. Returns seat → new student (nil to free it), only for seats that change.
    public static func plan(seats: [(seat: Int, student: String?)], roster: Set<String>) -> [Int: String?] {
        var changes: [Int: String?] = [:]
        var seated: Set<String> = []
        var free: [Int] = []
        for (seat, student) in seats.sorted(by: { $0.seat < $1.seat }) {
            if let student, roster.contains(student), !seated.contains(student) {
                seated.insert(student)
            } else {
                if student != nil { changes[seat] = .some(nil) }
                free.append(seat)
            }
        }
        for (seat, student) in zip(free, roster.subtracting(seated).sorted()) { changes[seat] = .some(student) }
        return changes
    }
}
