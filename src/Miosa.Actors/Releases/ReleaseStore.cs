using System.Security.Cryptography;

namespace Miosa.Actors.Releases;

/// <summary>
/// Where releases live, by the SHA-256 of their bytes. Immutable: a stored release is never
/// rewritten, and storing the same bytes again changes nothing. The local directory is the default;
/// an S3 bucket implements the same contract later.
/// </summary>
public interface IReleaseStore
{
    /// <summary>Stores the archive at <paramref name="file"/> (consumed: moved or deleted) under its SHA-256; returns the hash and size.</summary>
    Task<(string Sha256, long SizeBytes)> PutAsync(string file, CancellationToken ct);

    /// <summary>The release's bytes, or null when this store does not hold it.</summary>
    Task<Stream?> OpenAsync(string sha256, CancellationToken ct);
}

/// <summary>A content-addressed directory: <c>&lt;root&gt;/sha256/&lt;2 hex&gt;/&lt;62 hex&gt;</c>, files read-only once stored.</summary>
public sealed class LocalReleaseStore(string root) : IReleaseStore
{
    public string Root { get; } = root;

    public static bool IsSha256(string? value) => value is { Length: 64 } && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    public string PathOf(string sha256) =>
        IsSha256(sha256) ? Path.Combine(Root, "sha256", sha256[..2], sha256[2..]) : throw new ArgumentException($"'{sha256}' is not a SHA-256.");

    public async Task<(string Sha256, long SizeBytes)> PutAsync(string file, CancellationToken ct)
    {
        string sha256;
        long size;
        await using (var stream = File.OpenRead(file))
        {
            size = stream.Length;
            sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
        }
        var target = PathOf(sha256);
        if (File.Exists(target))
        {
            File.Delete(file);
            return (sha256, size);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        try
        {
            // Same file system (the caller stages under the store's root): an atomic rename, never half a release.
            File.Move(file, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            File.Delete(file);
        }
        return (sha256, size);
    }

    public Task<Stream?> OpenAsync(string sha256, CancellationToken ct)
    {
        var path = IsSha256(sha256) ? PathOf(sha256) : null;
        return Task.FromResult<Stream?>(path is not null && File.Exists(path) ? File.OpenRead(path) : null);
    }

    /// <summary>A place for an archive being written, on the store's file system.</summary>
    public string StagingFile()
    {
        var staging = Path.Combine(Root, "staging");
        Directory.CreateDirectory(staging);
        return Path.Combine(staging, $"{Guid.NewGuid():n}.tar");
    }
}
