using System.Diagnostics;

namespace Miosa.Bench;

/// <summary>What the same work costs without Miosa, measured on this machine in this run.</summary>
public static class Baselines
{
    /// <summary>The bare bubblewrap sandbox a jail sandbox is built on, running <c>true</c>.</summary>
    public static readonly string[] BwrapTrue =
    [
        "--unshare-all", "--die-with-parent",
        "--ro-bind", "/usr", "/usr", "--ro-bind", "/bin", "/bin", "--ro-bind", "/lib", "/lib", "--ro-bind", "/lib64", "/lib64",
        "--proc", "/proc", "--dev", "/dev", "true",
    ];

    /// <summary>Spawns the program and waits for it, n times in sequence; fails on a non-zero exit.</summary>
    public static Task<Latencies> SpawnAsync(string program, IReadOnlyList<string> args, int n, CancellationToken ct) =>
        Latencies.MeasureAsync(n, async _ =>
        {
            var exit = await RunAsync(program, args, ct);
            if (exit.Code != 0) throw new InvalidOperationException($"{program} exited {exit.Code}: {exit.Error}");
        }, ct);

    /// <summary>The docker run baseline when a docker daemon answers, else why not.</summary>
    public static async Task<(Latencies? Latencies, string Why)> DockerRunAsync(string? image, int n, CancellationToken ct)
    {
        if (!OnPath("docker")) return (null, "n/a (no docker)");
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var info = await RunAsync("docker", ["info", "--format", "{{.ServerVersion}}"], timeout.Token);
            if (info.Code != 0) return (null, "n/a (no dockerd)");
            if (image is null)
            {
                var images = await RunAsync("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"], timeout.Token);
                image = images.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .FirstOrDefault(name => !name.Contains("<none>", StringComparison.Ordinal));
                if (image is null) return (null, "n/a (dockerd has no image)");
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, "n/a (no dockerd)");
        }
        var latencies = await SpawnAsync("docker", ["run", "--rm", "--network", "none", image, "true"], n, ct);
        return (latencies, $"docker run {image}");
    }

    public static async Task<(int Code, string Output, string Error)> RunAsync(string program, IReadOnlyList<string> args, CancellationToken ct)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} did not start");
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var error = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            return (process.ExitCode, await output, await error);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }

    public static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Any(dir => File.Exists(Path.Combine(dir, program)));
}
