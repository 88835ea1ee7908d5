import Foundation
import SyncAgent
import Testing

@Suite("Agent configuration and schedule")
struct ConfigurationTests {
    func configuration() -> AgentConfiguration {
        let json = """
            {"central": {"url": "http://127.0.0.1:8080", "trustedKeys": ["key"]},
             "cloudstack": {"endpoint": "http://127.0.0.1:18081/client/api", "apiKey": "K"},
             "directory": "/tmp/x"}
            """
        return try! JSONDecoder().decode(AgentConfiguration.self, from: Data(json.utf8))
    }

    @Test("bad fields are refused with the field's name; secrets come from the environment or a file, never the command line")
    func validation() throws {
        var c = configuration()
        try c.validate()
        c.central.trustedKeys = []
        #expect(throws: AgentConfigurationError.self) { try c.validate() }
        c = configuration()
        c.schedule = try JSONDecoder().decode(AgentConfiguration.Schedule.self, from: Data(#"{"dailyAt": "25:00"}"#.utf8))
        let error = #expect(throws: AgentConfigurationError.self) { try c.validate() }
        #expect("\(error!)".contains("schedule.dailyAt"))
        #expect(throws: AgentConfigurationError.self) { try configuration().cloudStackSecret(environment: [:]) }
        #expect(try configuration().cloudStackSecret(environment: ["MCLOUDS_CLOUDSTACK_SECRET": "s"]) == "s")
    }

    @Test("daily passes run at the configured local time (tomorrow once it has passed), plus jitter; intervals add up")
    func scheduling() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let now = ISO8601DateFormatter().date(from: "2026-11-25T10:00:00Z")!
        func schedule(_ json: String) -> AgentConfiguration.Schedule {
            try! JSONDecoder().decode(AgentConfiguration.Schedule.self, from: Data(json.utf8))
        }
        let daily = AgentSchedule(schedule(#"{"dailyAt": "03:30", "jitterMinutes": 20}"#))
        #expect(daily.next(after: now, calendar: calendar, jitter: 0) == ISO8601DateFormatter().date(from: "2026-11-26T03:30:00Z"))
        #expect(daily.next(after: now, calendar: calendar, jitter: 0.5) == ISO8601DateFormatter().date(from: "2026-11-26T03:40:00Z"))
        let later = AgentSchedule(schedule(#"{"dailyAt": "12:00", "jitterMinutes": 0}"#))
        #expect(later.next(after: now, calendar: calendar, jitter: 0.9) == ISO8601DateFormatter().date(from: "2026-11-25T12:00:00Z"))
        let interval = AgentSchedule(schedule(#"{"intervalMinutes": 15}"#))
        #expect(interval.next(after: now, calendar: calendar, jitter: 0.7) == now.addingTimeInterval(900))
    }
}
