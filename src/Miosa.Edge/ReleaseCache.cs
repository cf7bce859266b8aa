using System.Collections.Concurrent;
using Miosa.Actors.Releases;

namespace Miosa.Edge;

/// <summary>A release unpacked on this edge: each file's full path and content hash (its ETag).</summary>
public sealed record UnpackedRelease(string Directory, IReadOnlyDictionary<string, string> FileHashes);

/// <summary>
/// Fetches each release once by its SHA-256 (from <see cref="IReleaseStore"/>: the local object
/// store on a single node, a remote one later), checks the bytes match the hash, and unpacks it
/// under <c>&lt;cache&gt;/&lt;sha256&gt;</c>. Concurrent first requests share one fetch.
/// </summary>
public sealed class ReleaseCache(IReleaseStore store, string cacheDirectory)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<UnpackedRelease>>> _releases = new(StringComparer.Ordinal);

    public Task<UnpackedRelease> GetAsync(string sha256)
    {
        var lazy = _releases.GetOrAdd(sha256, s => new Lazy<Task<UnpackedRelease>>(() => UnpackAsync(s)));
        var task = lazy.Value;
        // A failed fetch is tried again by the next request.
        if (task.IsFaulted) _releases.TryRemove(new KeyValuePair<string, Lazy<Task<UnpackedRelease>>>(sha256, lazy));
        return task;
    }

    private async Task<UnpackedRelease> UnpackAsync(string sha256)
    {
        var archive = Path.Combine(cacheDirectory, $"{sha256}.{Guid.NewGuid():n}.tar");
        Directory.CreateDirectory(cacheDirectory);
        try
        {
            await using (var source = await store.OpenAsync(sha256, CancellationToken.None)
                ?? throw new FileNotFoundException($"Release {sha256} is not in the release store."))
            await using (var copy = File.Create(archive))
            {
                await source.CopyToAsync(copy);
            }
            await using var stream = File.OpenRead(archive);
            var actual = Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(stream));
            if (actual != sha256) throw new InvalidDataException($"Release {sha256} arrived with SHA-256 {actual}.");
            stream.Position = 0;
            var directory = Path.Combine(cacheDirectory, sha256);
            // What a previous run of this edge unpacked may be partial: unpack afresh.
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            var hashes = ReleaseArchive.Extract(stream, directory);
            return new UnpackedRelease(directory, hashes);
        }
        finally
        {
            File.Delete(archive);
        }
    }
}
