/// What this build of mClouds is (`mclouds --version`, the `mclouds_build_info` metric, the OpenAPI document).
public enum BuildInfo {
    /// The release version.
    public static let version = "0.12.0"
}
