using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Storage;

/// <summary>
/// Snapshots as content-addressed files: every distinct file content once, at
/// <c>objects/sha256/&lt;2 hex&gt;/&lt;62 hex&gt;</c> (read-only, root's), and per snapshot a
/// manifest <c>snapshots/&lt;id&gt;.json</c> listing its directories, files (by hash) and symlinks.
/// A file unchanged between snapshots, forks or sandboxes is stored once; a snapshot's new bytes
/// are the sizes of the objects it added. On a filesystem with reflinks (the btrfs volume) objects
/// share their blocks with the workspace they came from and restored files share theirs with the
/// objects, so neither ingesting nor restoring copies file data.
/// </summary>
public sealed class ContentStore
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    // Ingests and restores share it with the garbage collection of deletes, which must never
    // remove an object a manifest being written or read is about to name.
    private readonly SemaphoreSlim _lock = new(1, 1);

    public ContentStore(string directory)
    {
        Directory = Path.GetFullPath(directory);
        Objects = Path.Combine(Directory, "objects", "sha256");
        Manifests = Path.Combine(Directory, "snapshots");
        Staging = Path.Combine(Directory, "staging");
        foreach (var path in new[] { Directory, Objects, Manifests, Staging })
        {
            System.IO.Directory.CreateDirectory(path, Private);
        }
    }

    public string Directory { get; }

    public string Objects { get; }

    public string Manifests { get; }

    /// <summary>Where a snapshot's frozen copy of a workspace waits to be ingested (same filesystem).</summary>
    public string Staging { get; }

    public string StagingPath(string snapshotId) => Path.Combine(Staging, ValidId(snapshotId));

    public bool Contains(string snapshotId) => File.Exists(ManifestPath(snapshotId));

    public SnapshotManifest Read(string snapshotId)
    {
        var path = ManifestPath(snapshotId);
        if (!File.Exists(path))
        {
            throw new SnapshotNotFoundException(snapshotId);
        }

        return JsonSerializer.Deserialize<SnapshotManifest>(File.ReadAllBytes(path), Json)
            ?? throw new InvalidDataException($"The manifest of snapshot {snapshotId} is empty.");
    }

    /// <summary>
    /// Stores the tree <paramref name="tree"/> (a still copy of a workspace) as snapshot
    /// <paramref name="snapshotId"/>: hashes its files (on every core), adds the contents the store
    /// lacks and writes the manifest. Idempotent: a snapshot already stored is answered as it is.
    /// </summary>
    public async Task<StoredSnapshot> IngestAsync(string snapshotId, string tree, CancellationToken ct)
    {
        if (Contains(snapshotId))
        {
            return Summary(Read(snapshotId), newBytes: 0);
        }

        var entries = new List<SnapshotEntry>();
        var files = new List<(int Index, string Path)>();
        foreach (var (relative, info) in WorkspaceTree.Walk(tree))
        {
            if (WorkspaceTree.IsSymlink(info))
            {
                entries.Add(new SnapshotEntry(relative, EntryKind.Symlink, 0, ToUnixTime(info.LastWriteTimeUtc)) { Target = info.LinkTarget ?? "" });
            }
            else if (info is DirectoryInfo directory)
            {
                entries.Add(new SnapshotEntry(relative, EntryKind.Directory, (int)(directory.UnixFileMode & WorkspaceTree.KeptModeBits), ToUnixTime(directory.LastWriteTimeUtc)));
            }
            else if (info is FileInfo file && WorkspaceTree.IsRegular(file.FullName))
            {
                files.Add((entries.Count, file.FullName));
                entries.Add(new SnapshotEntry(relative, EntryKind.File, (int)(file.UnixFileMode & WorkspaceTree.KeptModeBits), ToUnixTime(file.LastWriteTimeUtc)) { Size = file.Length });
            }
        }

        var hashes = new string[entries.Count];
        await Parallel.ForEachAsync(files, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount }, async (f, token) =>
        {
            await using var stream = new FileStream(f.Path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.ReadWrite, BufferSize = 0, Options = FileOptions.SequentialScan });
            hashes[f.Index] = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, token).ConfigureAwait(false));
        }).ConfigureAwait(false);

        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            long newBytes = 0;
            foreach (var (index, path) in files)
            {
                var entry = entries[index] = entries[index] with { Sha256 = hashes[index] };
                var target = ObjectPath(hashes[index]);
                if (File.Exists(target))
                {
                    continue;
                }

                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!, Private);
                var temporary = Path.Combine(Staging, "object-" + Guid.NewGuid().ToString("N"));
                WorkspaceTree.CloneOrCopy(path, temporary);
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                File.Move(temporary, target);
                newBytes += entry.Size;
            }

            var manifest = new SnapshotManifest(snapshotId, DateTimeOffset.UtcNow, entries);
            var written = ManifestPath(snapshotId) + ".new";
            await File.WriteAllBytesAsync(written, JsonSerializer.SerializeToUtf8Bytes(manifest, Json), ct).ConfigureAwait(false);
            File.Move(written, ManifestPath(snapshotId), overwrite: true);
            return Summary(manifest, newBytes);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Recreates snapshot <paramref name="snapshotId"/> in the empty directory <paramref name="target"/>,
    /// every entry owned by <paramref name="uid"/>; files share the objects' blocks where the
    /// filesystem can. Processes are not part of a snapshot.
    /// </summary>
    public void Materialize(string snapshotId, string target, int uid)
    {
        var manifest = Read(snapshotId);
        _lock.Wait();
        try
        {
            var directories = new List<(string Path, long Modified)>();
            foreach (var entry in manifest.Entries)
            {
                var path = Path.Combine(target, SafeRelative(entry.Path));
                switch (entry.Kind)
                {
                    case EntryKind.Directory:
                        System.IO.Directory.CreateDirectory(path);
                        File.SetUnixFileMode(path, (UnixFileMode)entry.Mode & WorkspaceTree.KeptModeBits);
                        directories.Add((path, entry.Modified));
                        break;
                    case EntryKind.File:
                        WorkspaceTree.CloneOrCopy(ObjectPath(entry.Sha256 ?? throw new InvalidDataException($"{entry.Path} has no hash.")), path);
                        File.SetUnixFileMode(path, (UnixFileMode)entry.Mode & WorkspaceTree.KeptModeBits);
                        File.SetLastWriteTimeUtc(path, DateTime.UnixEpoch.AddTicks(entry.Modified / 100));
                        break;
                    case EntryKind.Symlink:
                        File.CreateSymbolicLink(path, entry.Target ?? "");
                        break;
                }

                HostSyscalls.Chown(path, uid, uid);
            }

            for (var i = directories.Count - 1; i >= 0; i--)
            {
                System.IO.Directory.SetLastWriteTimeUtc(directories[i].Path, DateTime.UnixEpoch.AddTicks(directories[i].Modified / 100));
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Deletes the snapshot's manifest and every object no other snapshot names. Returns the bytes freed.</summary>
    public long Delete(string snapshotId)
    {
        var path = ManifestPath(snapshotId);
        _lock.Wait();
        try
        {
            if (File.Exists(path))
            {
                File.Delete(path);
            }

            return CollectGarbage();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Bytes of every object in the store (each distinct content once).</summary>
    public long StoredBytes() =>
        System.IO.Directory.EnumerateFiles(Objects, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private long CollectGarbage()
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var manifest in System.IO.Directory.EnumerateFiles(Manifests, "*.json"))
        {
            var id = Path.GetFileNameWithoutExtension(manifest);
            foreach (var entry in Read(id).Entries)
            {
                if (entry.Sha256 is { } hash)
                {
                    live.Add(hash);
                }
            }
        }

        long freed = 0;
        foreach (var file in System.IO.Directory.EnumerateFiles(Objects, "*", SearchOption.AllDirectories).ToList())
        {
            var hash = Path.GetFileName(Path.GetDirectoryName(file)) + Path.GetFileName(file);
            if (!live.Contains(hash))
            {
                freed += new FileInfo(file).Length;
                File.Delete(file);
            }
        }

        return freed;
    }

    private static StoredSnapshot Summary(SnapshotManifest manifest, long newBytes) => new(
        manifest.SnapshotId,
        newBytes,
        manifest.Entries.Where(e => e.Kind == EntryKind.File).Sum(e => e.Size),
        manifest.Entries.Count(e => e.Kind == EntryKind.File));

    private string ObjectPath(string sha256) =>
        sha256.Length == 64 && sha256.All(char.IsAsciiHexDigitLower)
            ? Path.Combine(Objects, sha256[..2], sha256[2..])
            : throw new InvalidDataException($"Invalid object hash '{sha256}'.");

    private string ManifestPath(string snapshotId) => Path.Combine(Manifests, ValidId(snapshotId) + ".json");

    private static string ValidId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-')
            ? id
            : throw new ArgumentException($"Invalid snapshot id '{id}'.", nameof(id));

    /// <summary>A manifest path that stays inside the target: relative, no '..' or empty parts.</summary>
    private static string SafeRelative(string path) =>
        path.Length > 0 && path[0] != '/' && path.Split('/').All(p => p is not ("" or "." or ".."))
            ? path
            : throw new InvalidDataException($"Invalid path '{path}' in a manifest.");

    private static long ToUnixTime(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks * 100;
}

public enum EntryKind { Directory, File, Symlink }

/// <summary>One entry of a snapshot: a path relative to the workspace, its kind, permission bits and modification time (Unix ns).</summary>
public sealed record SnapshotEntry(string Path, EntryKind Kind, int Mode, long Modified)
{
    public long Size { get; init; }

    /// <summary>A file's content: the object's name.</summary>
    public string? Sha256 { get; init; }

    /// <summary>A symlink's target, as written (never followed on the host).</summary>
    public string? Target { get; init; }
}

public sealed record SnapshotManifest(string SnapshotId, DateTimeOffset CreatedAt, IReadOnlyList<SnapshotEntry> Entries);

/// <summary>A stored snapshot: bytes its objects added to the store, bytes of its files, how many files.</summary>
public sealed record StoredSnapshot(string SnapshotId, long NewBytes, long TotalBytes, int Files);

public sealed class SnapshotNotFoundException(string snapshotId) : Exception($"Snapshot {snapshotId} is not stored on this host.")
{
    public string SnapshotId { get; } = snapshotId;
}
