/// The steps of a build, in order. A report names the one that failed.
public enum BuildStep: String, Codable, Sendable, CaseIterable {
    /// Finding the base template, the offering and the zone, and choosing the version.
    case resolve
    /// Deploying the builder VM with the provisioning as user data.
    case deploy
    /// Waiting for the guest to install everything and report (or for the deadline).
    case provision
    /// The recipe's checks, as the guest ran them.
    case checks
    /// Stopping the builder VM (it powers itself off; stopped if it does not).
    case stop
    /// `createTemplate` from the VM's root volume.
    case createTemplate = "create-template"
    /// `extractTemplate`: a download URL for the image.
    case extract
    /// Downloading the image (resumable, verified against the size CloudStack reports).
    case download
    /// Publishing it to the repository as a new version.
    case publish
}
