import Foundation

/// A class list as CSV (RFC 4180: quoted fields, doubled quotes, CRLF or LF): a header naming `username` and
/// `email` (and optionally `name`), then one student per row.
public enum RosterCSV {
    /// The students of `text`.
    /// - Throws: ``ClassroomError`` `invalid`, naming the line.
    public static func parse(_ text: String) throws -> [Member] {
        let rows = try records(text)
        guard let header = rows.first?.map({ $0.lowercased().trimmingCharacters(in: .whitespaces) }) else {
            throw ClassroomError.invalid("The CSV is empty: give a header line `username,email,name` and one student per line.")
        }
        guard let user = header.firstIndex(of: "username"), let mail = header.firstIndex(of: "email") else {
            throw ClassroomError.invalid("Line 1 of the CSV must name the columns username and email (and optionally name).")
        }
        let name = header.firstIndex(of: "name")
        var seen = Set<String>()
        var members: [Member] = []
        for (index, row) in rows.dropFirst().enumerated() where !(row.count == 1 && row[0].isEmpty) {
            let line = index + 2
            guard row.count == header.count else {
                throw ClassroomError.invalid("Line \(line) has \(row.count) fields; the header has \(header.count).")
            }
            let username = row[user].trimmingCharacters(in: .whitespaces)
            let email = row[mail].trimmingCharacters(in: .whitespaces)
            guard (1...64).contains(username.count), username.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw ClassroomError.invalid("Line \(line): username \(username) must be 1 to 64 letters, digits, '.', '_' or '-'.")
            }
            guard email.contains("@"), email.count <= 254, !email.contains(" ") else {
                throw ClassroomError.invalid("Line \(line): \(email) is not an e-mail address.")
            }
            guard seen.insert(username).inserted else { throw ClassroomError.invalid("Line \(line): \(username) is listed twice.") }
            members.append(Member(username: username, email: email, name: name.map { row[$0].trimmingCharacters(in: .whitespaces) } ?? ""))
        }
        guard members.count <= 2000 else { throw ClassroomError.invalid("At most 2000 students per group.") }
        return members
    }

    static func records(_ text: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var characters = Array(text.replacingOccurrences(of: "\r\n", with: "\n"))
        if characters.last != "\n" { characters.append("\n") }
        var i = 0
        while i < characters.count {
            let c = characters[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < characters.count, characters[i + 1] == "\"" {
                        field.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                row.append(field)
                field = ""
            } else if c == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
                line += 1
            } else {
                field.append(c)
            }
            i += 1
        }
        guard !quoted else { throw ClassroomError.invalid("Line \(line): a quoted field is not closed.") }
        return rows
    }
}
