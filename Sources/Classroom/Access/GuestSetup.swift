import Core
import Foundation

/// What a seat's guest is told at first boot through CloudStack user data: an account for the student with the
/// seat's password, and password logins over SSH (cloud-init, Linux) or Remote Desktop (cloudbase-init, Windows).
public enum GuestSetup {
    /// A password of 20 characters from an alphabet without look-alikes (about 114 bits), easy to type from a page.
    public static func newPassword<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        return String((0..<20).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// A fresh password from the system's generator.
    public static func newPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return newPassword(using: &generator)
    }

    /// The user data document (not yet base64) that sets up `username` with `password`.
    public static func userData(for service: ServiceProbe.Service, username: String, password: String) -> String {
        switch service {
        case .ssh:
            // cloud-init's cloud-config (checked with `cloud-init schema` in the tests).
            """
            #cloud-config
            ssh_pwauth: true
            users:
              - default
              - name: \(username)
                gecos: mClouds student
                shell: /bin/bash
                lock_passwd: false
                sudo: ALL=(ALL) NOPASSWD:ALL
            chpasswd:
              expire: false
              users:
                - name: \(username)
                  password: \(password)
                  type: text

            """
        case .rdp:
            // cloudbase-init runs a `#ps1_sysnative` script as SYSTEM on first boot.
            """
            #ps1_sysnative
            $password = ConvertTo-SecureString '\(password)' -AsPlainText -Force
            if (Get-LocalUser -Name '\(username)' -ErrorAction SilentlyContinue) {
                Set-LocalUser -Name '\(username)' -Password $password -PasswordNeverExpires $true
            } else {
                New-LocalUser -Name '\(username)' -Password $password -FullName 'mClouds student' -PasswordNeverExpires
            }
            Add-LocalGroupMember -Group 'Remote Desktop Users' -Member '\(username)' -ErrorAction SilentlyContinue

            """
        }
    }

    /// Whether a template's OS type is Windows (its seats are reached over RDP).
    public static func service(osTypeName: String?) -> ServiceProbe.Service {
        (osTypeName ?? "").lowercased().contains("windows") ? .rdp : .ssh
    }
}
