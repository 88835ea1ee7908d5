import PackagePlugin

/// Compiles the text files a target lists under `Embedded/` into it as string constants, so that a binary copied
/// on its own (e.g. to /usr/local/bin) still has them: the server's `openapi.yaml` is its route table.
@main
struct EmbedDocument: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let documents = target.sourceFiles.filter { $0.url.pathExtension == "yaml" && $0.url.path.contains("/Embedded/") }
        let tool = try context.tool(named: "embed-document")
        return documents.map { file in
            let name = file.url.deletingPathExtension().lastPathComponent
            let output = context.pluginWorkDirectoryURL.appending(path: "Embedded_\(name).swift")
            return .buildCommand(
                displayName: "Embedding \(file.url.lastPathComponent)", executable: tool.url,
                arguments: [file.url.path, output.path], inputFiles: [file.url], outputFiles: [output])
        }
    }
}
