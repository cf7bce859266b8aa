using Miosa.Actors.Common;

namespace Miosa.Api.Hosting;

/// <summary>The secret API nodes present to host ingresses; one per data dir unless MIOSA_CLUSTER_SECRET is set.</summary>
public static class ClusterSecretFile
{
    public static string ReadOrCreate(string path)
    {
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        var secret = ResourceId.RandomToken(48);
        var temp = path + ".tmp";
        File.WriteAllText(temp, secret);
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
        return secret;
    }
}
