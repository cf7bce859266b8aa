namespace Miosa.HostAgent.Storage;

/// <summary>
/// Where sandbox workspaces live on a host and what the filesystem under them can do: a btrfs
/// volume (<see cref="BtrfsVolume"/>: disk limits, instant copies) or plain directories
/// (<see cref="PlainDirectories"/>: neither, for hosts without loop devices and for tests).
/// </summary>
public interface IWorkspaceStorage
{
    /// <summary>Holds one directory per sandbox (the jail driver's root).</summary>
    string SandboxesDirectory { get; }

    /// <summary>Holds the content store (objects and manifests); on the same filesystem, so objects can share blocks with workspaces.</summary>
    string StoreDirectory { get; }

    /// <summary>Whether <see cref="Limit"/> caps what a workspace holds (false: disk_mb is not enforced).</summary>
    bool LimitsDisk { get; }

    /// <summary>Whether <see cref="Copy"/> is instant (copy-on-write) rather than a copy of every byte.</summary>
    bool CopiesInstantly { get; }

    /// <summary>Creates an empty workspace directory at <paramref name="path"/> (its parent exists).</summary>
    void Create(string path);

    /// <summary>Caps the bytes the workspace may hold (writes past it fail inside the sandbox).</summary>
    void Limit(string path, long bytes);

    /// <summary>
    /// Copies the workspace <paramref name="source"/> to the new <paramref name="target"/> as it is
    /// at this instant (the caller keeps writers still), owners and modes included.
    /// </summary>
    void Copy(string source, string target, bool readOnly);

    /// <summary>Deletes a workspace made by <see cref="Create"/> or <see cref="Copy"/>; nothing if it is absent.</summary>
    void Delete(string path);
}

/// <summary>Workspaces as plain directories on the data dir's filesystem: no disk limit, copies byte by byte.</summary>
public sealed class PlainDirectories : IWorkspaceStorage
{
    public PlainDirectories(string sandboxesDirectory, string storeDirectory)
    {
        SandboxesDirectory = Path.GetFullPath(sandboxesDirectory);
        StoreDirectory = Path.GetFullPath(storeDirectory);
    }

    public string SandboxesDirectory { get; }

    public string StoreDirectory { get; }

    public bool LimitsDisk => false;

    public bool CopiesInstantly => false;

    public void Create(string path) =>
        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

    public void Limit(string path, long bytes)
    {
    }

    public void Copy(string source, string target, bool readOnly) => WorkspaceTree.CopyTree(source, target);

    public void Delete(string path)
    {
        if (Directory.Exists(path))
        {
            // Recursive delete removes symlinks themselves, never what they point to.
            Directory.Delete(path, recursive: true);
        }
    }
}
