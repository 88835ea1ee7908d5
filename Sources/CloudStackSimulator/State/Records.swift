import CloudStack
import Core
import Foundation

/// A host and the capacity its VMs hold. CPU in MHz, memory in bytes.
struct HostRecord: Codable, Sendable {
    var host: ComputeHost
    var cpuTotal: Int64
    var memoryTotal: Int64
    /// Held by running VMs.
    var cpuUsed: Int64 = 0
    var memoryUsed: Int64 = 0
    /// Held by stopped VMs that keep their reservation on this host.
    var cpuReserved: Int64 = 0
    var memoryReserved: Int64 = 0
}

/// A zone with its pod, cluster, storage and public IP range.
struct ZoneRecord: Codable, Sendable {
    var zone: Zone
    var podID: String
    var podName: String
    var clusterID: String
    var clusterName: String
    var primaryStorageTotal: Int64
    var secondaryStorageTotal: Int64
    var publicIPs: [String]
    var privateIPTotal: Int64
    var privateIPUsed: Int64
    var networkID: String
}

/// One zone's copy of a template on secondary storage.
struct TemplateStoreRecord: Codable, Sendable {
    enum State: String, Codable, Sendable {
        case notDownloaded = "NOT_DOWNLOADED"
        case inProgress = "DOWNLOAD_IN_PROGRESS"
        case downloaded = "DOWNLOADED"
        case error = "DOWNLOAD_ERROR"
    }

    var state: State = .notDownloaded
    var percent: Int = 0
    var installing = false
    var errorText: String?
    var size: Int64?
    var physicalSize: Int64?
}

/// A template: its zone-independent fields plus one store record per zone.
struct TemplateRecord: Codable, Sendable {
    var template: Template
    var accountID: String
    /// The checksum as registered (with its `{ALG}` prefix).
    var registeredChecksum: String?
    /// Zone id → store state, in zone order.
    var stores: [String: TemplateStoreRecord]
    var zoneOrder: [String]
    /// The file on simulated secondary storage, once downloaded.
    var filePath: String?
    var removed = false
}

/// A VM and the resources it holds.
struct VMRecord: Codable, Sendable {
    var vm: VirtualMachine
    var accountID: String
    /// Host whose capacity the VM holds (running, or reserved while stopped).
    var reservedHostID: String?
    var rootVolumeID: String?
    /// The user data it was deployed with (decoded), which its guest runs.
    var userData: String?
    var cpuMHz: Int64 { Int64(vm.cpunumber ?? 0) * Int64(vm.cpuspeed ?? 0) }
    var memoryBytes: Int64 { Int64(vm.memory ?? 0) * 1_048_576 }
}

/// An account and its users.
struct AccountRecord: Codable, Sendable {
    var account: Account
    var userIDs: [String]
}

/// A user with the secret half of its keys.
struct UserRecord: Codable, Sendable {
    var user: User
    var secretKey: String?
    var isAdmin: Bool { user.accounttype == 1 }
}

/// What an async job does when its pending time is over.
enum JobAction: Codable, Sendable {
    case deployVM(id: String)
    case startVM(id: String)
    case stopVM(id: String)
    case destroyVM(id: String, expunge: Bool)
    case deleteTemplate(id: String, zoneID: String?)
    case createTemplate(id: String)
    case extractTemplate(id: String, zoneID: String)
    case createTags(tags: [ResourceTag])
    case deleteTags(resourceIDs: [String], resourceType: String, tags: [ResourceTag])
    case associateIP(id: String)
    case createPortForwarding(id: String)
    case createFirewall(id: String)
    case deleteFirewall(id: String)
    case disassociateIP(id: String)
    case deletePortForwarding(id: String)
}

/// An async job.
struct JobRecord: Codable, Sendable {
    var job: AsyncJob
    var action: JobAction
    var readyAt: Date
    var done = false
}

/// The error a command answers with; mapped to CloudStack's error envelope.
struct APIError: Error, Sendable {
    var errorCode: Int
    var csErrorCode: Int?
    var text: String

    static func param(_ text: String, cs: Int = 4350) -> APIError { APIError(errorCode: 431, csErrorCode: cs, text: text) }
    static func missing(_ command: String, _ parameter: String) -> APIError {
        APIError(
            errorCode: 431, csErrorCode: 9999, text: "Unable to execute API command \(command.lowercased()) due to missing parameter \(parameter)")
    }
    static func invalidValue(_ command: String, _ parameter: String, _ value: String) -> APIError {
        APIError(
            errorCode: 431, csErrorCode: 9999,
            text: "Unable to execute API command \(command.lowercased()) due to invalid value \(value) for parameter \(parameter)")
    }
    /// CloudStack's wording when a uuid parameter names nothing.
    static func unknownEntity(_ command: String, _ parameter: String, _ value: String) -> APIError {
        APIError(
            errorCode: 431, csErrorCode: 9999,
            text:
                "Unable to execute API command \(command.lowercased()) due to invalid value. Invalid parameter \(parameter) value=\(value) due to incorrect long value format, or entity does not exist or due to incorrect parameter annotation for the field in api cmd class."
        )
    }
    static let unauthorized = APIError(errorCode: 401, csErrorCode: nil, text: "unable to verify user credentials and/or request signature")
    static func internalError(_ text: String) -> APIError { APIError(errorCode: 530, csErrorCode: 4250, text: text) }
}
