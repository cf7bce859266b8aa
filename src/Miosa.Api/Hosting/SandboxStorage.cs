using Miosa.Actors.Hosting;
using Miosa.HostAgent.Storage;

namespace Miosa.Api.Hosting;

/// <summary>The host role's workspace storage, as <c>MIOSA_SANDBOX_VOLUME</c> says.</summary>
public static class SandboxStorage
{
    public static IWorkspaceStorage Open(MiosaNodeOptions options)
    {
        if (options.SandboxVolume == "none")
        {
            return new PlainDirectories(Path.Combine(options.DataDir, "sandboxes"), Path.Combine(options.DataDir, "store"));
        }

        var volume = BtrfsVolume.Open(options.DataDir, options.SandboxVolumeGb is { } gb ? (long)gb << 30 : null);
        BtrfsVolume.MoveDirectoryWorkspaces(Path.Combine(options.DataDir, "sandboxes"), volume);
        return volume;
    }
}
