using System.Formats.Tar;
using System.Security.Cryptography;

namespace Miosa.Actors.Releases;

/// <summary>A regular file of a release: its path inside the release ('/'-separated, relative), whether it is executable, its bytes.</summary>
public sealed record ReleaseFile(string Path, bool Executable, Func<Stream> Open);

/// <summary>
/// The release format: a tar (GNU) that is the same bytes for the same files, whatever the machine
/// or the moment: entries sorted by ordinal path, directories implied by their files written
/// before them, a fixed modification time, uid/gid 0 without names, modes 0644/0755. No symlinks,
/// no devices, no absolute paths and no <c>..</c>: the builder resolves or refuses those first.
/// </summary>
public static class ReleaseArchive
{
    /// <summary>The time every entry carries (2000-01-01 UTC): tar needs one, a release must not depend on it.</summary>
    public static readonly DateTimeOffset FixedTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private const UnixFileMode PlainMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode ExecutableMode = PlainMode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>Writes <paramref name="files"/> to <paramref name="output"/>; throws <see cref="InvalidDataException"/> on a path that is not a plain relative one.</summary>
    public static void Write(Stream output, IEnumerable<ReleaseFile> files)
    {
        var sorted = files.ToList();
        foreach (var file in sorted) CheckPath(file.Path);
        sorted.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        for (var i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Path == sorted[i - 1].Path) throw new InvalidDataException($"Release path '{sorted[i].Path}' appears twice.");
        }
        using var tar = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true);
        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in sorted)
        {
            // Parent directories first, once each.
            var parts = file.Path.Split('/');
            for (var depth = 1; depth < parts.Length; depth++)
            {
                var directory = string.Join('/', parts[..depth]) + "/";
                if (written.Add(directory)) tar.WriteEntry(Entry(TarEntryType.Directory, directory, ExecutableMode));
            }
            using var content = file.Open();
            var entry = Entry(TarEntryType.RegularFile, file.Path, file.Executable ? ExecutableMode : PlainMode);
            entry.DataStream = content;
            tar.WriteEntry(entry);
        }
    }

    /// <summary>
    /// Unpacks a release into <paramref name="directory"/> (which must not exist yet): regular files
    /// and directories only; a link, a device, an absolute path or a <c>..</c> entry throws
    /// <see cref="InvalidDataException"/>. Returns each file's path and the SHA-256 of its content.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Extract(Stream archive, string directory)
    {
        Directory.CreateDirectory(directory);
        var root = Path.GetFullPath(directory);
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        using var tar = new TarReader(archive, leaveOpen: true);
        while (tar.GetNextEntry() is { } entry)
        {
            var name = entry.Name.TrimEnd('/');
            CheckPath(name);
            var target = Path.GetFullPath(Path.Combine(root, name));
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new InvalidDataException($"Release entry '{entry.Name}' points outside the release.");
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(target);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    using (var file = new FileStream(target, FileMode.CreateNew, FileAccess.Write))
                    using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
                    {
                        if (entry.DataStream is { } data)
                        {
                            var buffer = new byte[81920];
                            int read;
                            while ((read = data.Read(buffer)) > 0)
                            {
                                file.Write(buffer.AsSpan(0, read));
                                hash.AppendData(buffer.AsSpan(0, read));
                            }
                        }
                        hashes[name] = Convert.ToHexStringLower(hash.GetHashAndReset());
                    }
                    break;
                default:
                    throw new InvalidDataException($"Release entry '{entry.Name}' is a {entry.EntryType}; releases hold only files and directories.");
            }
        }
        return hashes;
    }

    /// <summary>A release path: relative, '/'-separated, no empty, '.' or '..' segment.</summary>
    public static void CheckPath(string path)
    {
        if (path.Length == 0 || path.StartsWith('/') || path.Contains('\\') || path.Contains('\0')
            || path.Split('/').Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new InvalidDataException($"Release path '{path}' is not a plain relative path (no '..', no absolute paths).");
    }

    private static GnuTarEntry Entry(TarEntryType type, string name, UnixFileMode mode) => new(type, name)
    {
        Mode = mode,
        Uid = 0,
        Gid = 0,
        UserName = "",
        GroupName = "",
        ModificationTime = FixedTime,
        AccessTime = FixedTime,
        ChangeTime = FixedTime,
    };
}
