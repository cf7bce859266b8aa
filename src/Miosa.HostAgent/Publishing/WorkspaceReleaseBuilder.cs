using System.Text;
using LibGit2Sharp;
using Miosa.Actors.Deployments;
using Miosa.Actors.Releases;

namespace Miosa.HostAgent.Publishing;

/// <summary>
/// Builds releases on this host: freezes a sandbox's <c>/workspace</c> as a commit in the
/// deployment's own bare repository (<c>&lt;repositories&gt;/&lt;dep&gt;.git</c>, the workspace as its work
/// tree, <c>.gitignore</c> honoured, dependency and build-output folders excluded), then packages the
/// commit's tree (or its <c>output_dir</c>) as a reproducible archive (<see cref="ReleaseArchive"/>)
/// into the release store. Symlinks inside the tree are resolved to the file they name; one that
/// points outside fails the build. Dynamic apps (Node, Python, Ruby, Go) and Dockerfiles are not
/// built yet: they fail with <c>dynamic_releases_unavailable</c> / <c>dockerfile_builds_unavailable</c>.
/// </summary>
public sealed class WorkspaceReleaseBuilder(string hostName, Func<string, string> workspaceOf, string repositoriesRoot, LocalReleaseStore store)
    : IReleaseBuilder
{
    /// <summary>Never part of a frozen source: dependencies and virtualenvs are rebuilt from their lockfiles.</summary>
    public static readonly IReadOnlyList<string> AlwaysExcluded = ["node_modules", ".venv", "__pycache__"];

    /// <summary>Build outputs: excluded unless the publish names one of them as its <c>output_dir</c>.</summary>
    public static readonly IReadOnlyList<string> BuildOutputs = ["dist", "build", ".next", ".nuxt", ".svelte-kit", "target"];

    /// <summary>A file at the top of the tree that means an app to run, not files to serve.</summary>
    public static readonly IReadOnlyList<string> DynamicMarkers = ["package.json", "requirements.txt", "pyproject.toml", "Gemfile", "go.mod"];

    private const int MaxLinkHops = 8;
    private static readonly Signature Builder = new("Miosa builder", "builder@miosa.invalid", DateTimeOffset.UnixEpoch);

    static WorkspaceReleaseBuilder()
    {
        // Workspaces belong to their sandbox's uid, the repository to the node: both are ours to read.
        GlobalSettings.SetOwnerValidation(false);
    }

    public Task<ReleaseBuildOutcome> BuildAsync(ReleaseBuildRequest request, CancellationToken ct) =>
        Task.Run(() => Build(request, ct), ct);

    private ReleaseBuildOutcome Build(ReleaseBuildRequest request, CancellationToken ct)
    {
        var log = new StringBuilder();
        string? commitId = null;
        ReleaseBuildOutcome Fail(string code, string error)
        {
            log.Append("error: ").Append(code).Append(": ").Append(error).Append('\n');
            return new(request.VersionId, null, commitId, code, error, log.ToString());
        }
        void Step(string line) => log.Append(DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff")).Append(' ').Append(line).Append('\n');

        Step($"build {request.BuildId} of version {request.VersionId}: sandbox {request.SandboxId}, mode {request.Mode}" +
             (request.OutputDir is null ? "" : $", output_dir {request.OutputDir}"));
        if (request.Host != hostName)
            return Fail("source_on_other_host", $"Sandbox {request.SandboxId} is on host {request.Host}; this node builds only from its own sandboxes.");
        if (request.Mode == "dockerfile")
            return Fail("dockerfile_builds_unavailable", "Dockerfile builds need a host with the Docker driver, which this fleet does not have yet.");
        var workspace = workspaceOf(request.SandboxId);
        if (!Directory.Exists(workspace))
            return Fail("workspace_missing", $"Sandbox {request.SandboxId} has no workspace on this host.");

        // 1. Freeze the source.
        Step("freezing /workspace as a commit");
        Tree tree;
        using var repository = OpenRepository(request.DeploymentId, workspace, request.OutputDir);
        Commands.Stage(repository, "*");
        ct.ThrowIfCancellationRequested();
        if (repository.Index.Count == 0)
            return Fail("empty_workspace", "The workspace has no files to publish (after .gitignore and the excluded folders: " +
                string.Join(", ", AlwaysExcluded.Concat(BuildOutputs)) + ").");
        var indexTree = repository.ObjectDatabase.CreateTree(repository.Index);
        const string Branch = "refs/heads/published";
        var parents = repository.Refs[Branch] is { } previous ? new[] { repository.Lookup<Commit>(previous.TargetIdentifier) } : [];
        var commit = repository.ObjectDatabase.CreateCommit(Builder, Builder, $"Publish {request.VersionId}\n", indexTree, parents, prettifyMessage: false);
        repository.Refs.Add(Branch, commit.Id, allowOverwrite: true);
        commitId = commit.Sha;
        tree = commit.Tree;
        Step($"source_commit {commitId} ({repository.Index.Count} files)");

        // 2. Choose the mode.
        var isStatic = request.Mode == "static" || request.OutputDir is not null || !DynamicMarkers.Any(m => tree[m] is { TargetType: TreeEntryTargetType.Blob });
        if (!isStatic)
        {
            var marker = DynamicMarkers.First(m => tree[m] is not null);
            return Fail("dynamic_releases_unavailable",
                $"The workspace has {marker}: it is an app to run, and dynamic releases (runtime instances) are not available yet. " +
                "Publish its built files with mode \"static\" and output_dir, or a workspace of static files.");
        }
        var root = tree;
        if (request.OutputDir is { } outputDir)
        {
            if (tree[outputDir] is not { TargetType: TreeEntryTargetType.Tree } folder)
                return Fail("output_dir_missing", $"output_dir '{outputDir}' is not a folder of the frozen source.");
            root = (Tree)folder.Target;
        }

        // 3. Package the release.
        Step("packaging a static release");
        var files = new List<ReleaseFile>();
        var error = Collect(tree, root, request.OutputDir is null ? "" : request.OutputDir.TrimEnd('/') + "/", "", files);
        if (error is not null) return Fail(error.Value.Code, error.Value.Message);
        if (files.Count == 0) return Fail("empty_workspace", "There are no files to publish in " + (request.OutputDir ?? "the workspace") + ".");
        var staging = store.StagingFile();
        try
        {
            using (var output = File.Create(staging)) ReleaseArchive.Write(output, files);
            var (sha256, size) = store.PutAsync(staging, ct).GetAwaiter().GetResult();
            Step($"release sha256 {sha256}, {size} bytes, {files.Count} files");
            return new(request.VersionId, new ReleaseRef(sha256, "static", size), commitId, null, null, log.ToString());
        }
        catch (InvalidDataException e)
        {
            return Fail("invalid_release_path", e.Message);
        }
        finally
        {
            if (File.Exists(staging)) File.Delete(staging);
        }
    }

    private Repository OpenRepository(string deploymentId, string workspace, string? outputDir)
    {
        var gitDirectory = Path.Combine(repositoriesRoot, $"{deploymentId}.git");
        if (!Directory.Exists(gitDirectory)) Repository.Init(gitDirectory, isBare: true);
        var keep = outputDir?.Split('/', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        var excluded = AlwaysExcluded.Concat(BuildOutputs.Where(b => b != keep)).Select(e => $"/{e}/\n{e}/\n");
        Directory.CreateDirectory(Path.Combine(gitDirectory, "info"));
        File.WriteAllText(Path.Combine(gitDirectory, "info", "exclude"), string.Concat(excluded));
        return new Repository(gitDirectory, new RepositoryOptions
        {
            WorkingDirectoryPath = workspace,
            IndexPath = Path.Combine(gitDirectory, "index"),
        });
    }

    /// <summary>The release's files under <paramref name="folder"/>; symlinks resolved inside <paramref name="top"/> or refused.</summary>
    private static (string Code, string Message)? Collect(Tree top, Tree folder, string folderPath, string releasePrefix, List<ReleaseFile> files)
    {
        foreach (var entry in folder)
        {
            var sourcePath = folderPath + entry.Name;
            var releasePath = releasePrefix + entry.Name;
            switch (entry.Mode)
            {
                case Mode.Directory:
                    if (Collect(top, (Tree)entry.Target, sourcePath + "/", releasePath + "/", files) is { } error) return error;
                    break;
                case Mode.NonExecutableFile or Mode.NonExecutableGroupWritableFile or Mode.ExecutableFile:
                    var blob = (Blob)entry.Target;
                    files.Add(new ReleaseFile(releasePath, entry.Mode == Mode.ExecutableFile, () => blob.GetContentStream()));
                    break;
                case Mode.SymbolicLink:
                    var (target, message) = Resolve(top, sourcePath, ((Blob)entry.Target).GetContentText());
                    if (target is null) return ("symlink_outside_workspace", message!);
                    if (target.Target is Blob linked)
                        files.Add(new ReleaseFile(releasePath, target.Mode == Mode.ExecutableFile, () => linked.GetContentStream()));
                    break;
                default:
                    break; // submodules: not part of a release
            }
        }
        return null;
    }

    /// <summary>Follows a symlink inside the frozen tree; null with the reason when it leaves the workspace or loops.</summary>
    private static (TreeEntry? Entry, string? Error) Resolve(Tree top, string linkPath, string target)
    {
        for (var hop = 0; hop < MaxLinkHops; hop++)
        {
            if (target.StartsWith('/'))
                return (null, $"Symlink {linkPath} points to the absolute path {target}, outside the workspace; releases never follow links out of it.");
            var parts = new List<string>(linkPath.Split('/')[..^1]);
            foreach (var segment in target.Split('/'))
            {
                if (segment is "" or ".") continue;
                if (segment == "..")
                {
                    if (parts.Count == 0)
                        return (null, $"Symlink {linkPath} points to {target}, outside the workspace; releases never follow links out of it.");
                    parts.RemoveAt(parts.Count - 1);
                }
                else
                {
                    parts.Add(segment);
                }
            }
            var resolved = string.Join('/', parts);
            var entry = resolved.Length == 0 ? null : top[resolved];
            if (entry is null || entry.Mode != Mode.SymbolicLink) return (entry, null);
            linkPath = resolved;
            target = ((Blob)entry.Target).GetContentText();
        }
        return (null, $"Symlink {linkPath} is part of a loop of links.");
    }
}
