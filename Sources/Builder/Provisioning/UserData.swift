import Foundation
import Yams

/// The user data a builder VM is deployed with: cloud-config for Linux (cloud-init), a `#ps1_sysnative`
/// PowerShell script for Windows (cloudbase-init). It installs the packages, writes the files, runs the
/// recipe's own additions and scripts, then runs the checks, reports to the callback and powers off.
public enum UserData {
    /// Where the Linux guest keeps the plan, its scripts and the report program.
    static let planPath = "/var/lib/mclouds-build/plan.json"
    static let reporterPath = "/usr/local/sbin/mclouds-build-report"

    /// The script paths a recipe's plan lists, in order.
    public static func scriptPaths(for recipe: Recipe) -> [String] {
        recipe.scripts.enumerated().map { index, script in
            recipe.os == .linux
                ? "/var/lib/mclouds-build/scripts/\(String(format: "%02d", index + 1))-\(script.name).sh"
                : "C:\\mclouds-build\\scripts\\\(String(format: "%02d", index + 1))-\(script.name).ps1"
        }
    }

    /// The user data for `recipe` with `plan`.
    /// - Throws: ``BuilderError`` `invalidRecipe` when the recipe's own cloud-config does not merge.
    public static func generate(for recipe: Recipe, plan: BuildPlan) throws -> String {
        switch recipe.os {
        case .linux: try cloudConfig(recipe, plan)
        case .windows: powerShell(recipe, plan)
        }
    }

    // MARK: Linux

    static func cloudConfig(_ recipe: Recipe, _ plan: BuildPlan) throws -> String {
        func scalar(_ text: String, literal: Bool = false) -> Node {
            .scalar(.init(text, .implicit, literal && text.contains("\n") ? .literal : (literal ? .singleQuoted : .any)))
        }
        func file(_ path: String, _ content: String, permissions: String, base64: Bool = false) -> Node {
            var pairs: [(Node, Node)] = [
                (scalar("path"), scalar(path)), (scalar("permissions"), .scalar(.init(permissions, .implicit, .singleQuoted))),
            ]
            if base64 { pairs.append((scalar("encoding"), scalar("b64"))) }
            pairs.append((scalar("content"), scalar(content, literal: true)))
            return .mapping(.init(pairs))
        }
        var packages = recipe.packages.map { scalar($0) }
        var files: [Node] = recipe.files.map {
            file($0.path, $0.content.hasSuffix("\n") || $0.content.isEmpty ? $0.content : $0.content + "\n", permissions: $0.permissions ?? "0644")
        }
        for (script, path) in zip(recipe.scripts, scriptPaths(for: recipe)) {
            files.append(file(path, "#!/bin/bash\nset -euo pipefail\n" + script.run + (script.run.hasSuffix("\n") ? "" : "\n"), permissions: "0755"))
        }
        files.append(file(planPath, plan.encoded, permissions: "0600", base64: true))
        files.append(file(reporterPath, reporter, permissions: "0755"))
        var runcmd: [Node] = []
        var extra: [(Node, Node)] = []
        if let text = recipe.cloudInit, let node = try Yams.compose(yaml: text), case .mapping(let mapping) = node {
            for (key, value) in mapping {
                switch (key.string ?? "", value) {
                case ("packages", .sequence(let more)): packages += Array(more)
                case ("write_files", .sequence(let more)): files = Array(more) + files
                case ("runcmd", .sequence(let more)): runcmd += Array(more)
                case ("packages", _), ("write_files", _), ("runcmd", _):
                    throw BuilderError.invalidRecipe(line: key.mark?.line, field: "cloudInit.\(key.string ?? "")", "must be a list")
                default: extra.append((key, value))
                }
            }
        }
        runcmd.append(.sequence(.init([scalar("/usr/bin/python3"), scalar(reporterPath)])))
        var pairs: [(Node, Node)] = [(scalar("package_update"), scalar("true")), (scalar("package_upgrade"), scalar("true"))]
        if !packages.isEmpty { pairs.append((scalar("packages"), .sequence(.init(packages)))) }
        pairs.append((scalar("write_files"), .sequence(.init(files))))
        pairs += extra
        pairs.append((scalar("runcmd"), .sequence(.init(runcmd))))
        pairs.append(
            (
                scalar("power_state"),
                .mapping(
                    .init([
                        (scalar("mode"), scalar("poweroff")), (scalar("message"), scalar("mClouds build finished")),
                        (scalar("timeout"), scalar("60")), (scalar("condition"), scalar("true")),
                    ]))
            ))
        let body = try Yams.serialize(node: .mapping(.init(pairs)), width: -1)
        return """
            #cloud-config
            # Built by mClouds from recipe \(recipe.name) (sha256 \(recipe.digest)).
            \(plan.markerLine)
            \(body)
            """
    }

    /// The Linux guest's report program (Python 3, on every cloud image): runs the plan's scripts in order
    /// and its checks, and posts what happened to the callback.
    static let reporter = """
        #!/usr/bin/python3
        # mClouds build report: run the recipe's scripts and checks, post the results to the one-time callback.
        import base64, json, subprocess, time, urllib.request

        plan = json.loads(open("\(planPath)").read())
        def run(name, command):
            p = subprocess.run(["/bin/bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            return {"name": name, "command": command, "exitCode": p.returncode, "output": p.stdout.decode("utf-8", "replace")[-65536:]}
        scripts = [run(path.rsplit("/", 1)[-1], "/bin/bash " + path) for path in plan["scripts"]]
        failed = [s for s in scripts if s["exitCode"] != 0]
        checks = [] if failed else [run(c["name"], c["command"]) for c in plan["checks"]]
        body = json.dumps({"checks": checks, "scripts": failed}).encode()
        for attempt in range(10):
            try:
                request = urllib.request.Request(plan["callback"], data=body, headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=30).read()
                break
            except Exception:
                time.sleep(10)

        """

    // MARK: Windows

    static func powerShell(_ recipe: Recipe, _ plan: BuildPlan) -> String {
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        var lines = [
            "#ps1_sysnative",
            "# Built by mClouds from recipe \(recipe.name) (sha256 \(recipe.digest)).",
            plan.markerLine,
            "$ErrorActionPreference = 'Stop'",
            "$ProgressPreference = 'SilentlyContinue'",
            "Set-ExecutionPolicy Bypass -Scope Process -Force",
            "$plan = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('\(plan.encoded)')) | ConvertFrom-Json",
            "New-Item -ItemType Directory -Force -Path 'C:\\mclouds-build\\scripts' | Out-Null",
        ]
        if !recipe.packages.isEmpty {
            switch recipe.packageManager {
            case .chocolatey:
                lines.append("if (-not (Get-Command choco -ErrorAction SilentlyContinue)) {")
                lines.append("    [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor 3072")
                lines.append("    Invoke-Expression ((New-Object Net.WebClient).DownloadString('https://community.chocolatey.org/install.ps1'))")
                lines.append("}")
                for package in recipe.packages { lines.append("choco install -y --no-progress \(package)") }
            case .winget:
                for package in recipe.packages {
                    lines.append("winget install --exact --id \(package) --silent --accept-package-agreements --accept-source-agreements")
                }
            }
        }
        for file in recipe.files {
            lines.append("New-Item -ItemType Directory -Force -Path (Split-Path -Parent \(quoted(file.path))) | Out-Null")
            lines.append("Set-Content -Encoding UTF8 -Path \(quoted(file.path)) -Value @'")
            lines.append(contentsOf: file.content.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
            lines.append("'@")
        }
        if let extra = recipe.powershell { lines.append(contentsOf: extra.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)) }
        for (script, path) in zip(recipe.scripts, scriptPaths(for: recipe)) {
            lines.append("Set-Content -Encoding UTF8 -Path \(quoted(path)) -Value @'")
            lines.append(contentsOf: script.run.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
            lines.append("'@")
        }
        lines.append(contentsOf: [
            "function Invoke-BuildStep($name, $command) {",
            "    $output = & powershell.exe -NoProfile -ExecutionPolicy Bypass -Command $command 2>&1 | Out-String",
            "    @{ name = $name; command = $command; exitCode = $LASTEXITCODE; output = $output }",
            "}",
            "$failed = @($plan.scripts | ForEach-Object { Invoke-BuildStep (Split-Path -Leaf $_) \"& '$_'\" } | Where-Object { $_.exitCode -ne 0 })",
            "$checks = @()",
            "if ($failed.Count -eq 0) { $checks = @($plan.checks | ForEach-Object { Invoke-BuildStep $_.name $_.command }) }",
            "$body = @{ checks = $checks; scripts = $failed } | ConvertTo-Json -Depth 4",
            "for ($i = 0; $i -lt 10; $i++) {",
            "    try { Invoke-RestMethod -Method Post -Uri $plan.callback -ContentType 'application/json' -Body $body | Out-Null; break }",
            "    catch { Start-Sleep -Seconds 10 }",
            "}",
            "if ($plan.powerOff) { Stop-Computer -Force }",
        ])
        return lines.joined(separator: "\n") + "\n"
    }
}
