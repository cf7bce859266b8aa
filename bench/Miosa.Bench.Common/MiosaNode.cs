using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Miosa.Bench;

/// <summary>
/// A real Miosa node started as its own process on loopback with a fresh data dir and free ports,
/// the same way the API tests start one (tests/Miosa.Api.Tests/MiosaNode.cs); optionally with a
/// known cluster secret and extra settings (roles, seeds) for a second node joined to the first.
/// Only the process it started is ever stopped; its data dir is removed when it is disposed.
/// </summary>
public sealed class MiosaNode : IAsyncDisposable
{
    private const int OutputLimit = 400;
    private readonly Queue<string> _output = new();
    private readonly string _name;
    private readonly Dictionary<string, string> _environment;
    private Process? _process;

    /// <param name="dll">The Miosa.Api.dll to run (see <see cref="LocateDll"/>).</param>
    /// <param name="name">MIOSA_NODE_NAME, and how messages name it.</param>
    /// <param name="clusterSecret">MIOSA_CLUSTER_SECRET (nodes of one cluster share it); a new random one when null.</param>
    /// <param name="environment">More settings, applied last.</param>
    /// <param name="dataDirPrefix">The name of its temp data dir starts with this.</param>
    public MiosaNode(string dll, string name = "bench-node", string? clusterSecret = null, Dictionary<string, string>? environment = null,
        string dataDirPrefix = "miosa-bench-")
    {
        Dll = dll;
        _name = name;
        ClusterSecret = clusterSecret ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        _environment = environment ?? [];
        DataDir = Directory.CreateTempSubdirectory(dataDirPrefix).FullName;
        // Sandboxes run as unprivileged uids that must pass through the data dir (0700 by default).
        File.SetUnixFileMode(DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                      UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
    }

    public string DataDir { get; }
    public string Dll { get; }
    public string ClusterSecret { get; }
    public int ApiPort { get; } = FreePort();
    public int EdgePort { get; } = FreePort();
    public int AkkaPort { get; } = FreePort();
    public int IngressPort { get; } = FreePort();
    public Uri Api => new($"http://127.0.0.1:{ApiPort}");
    public Uri Ingress => new($"http://127.0.0.1:{IngressPort}");
    public int Pid => _process?.Id ?? throw new InvalidOperationException($"{_name} is not running.");
    public bool HasExited => _process is null || _process.HasExited;
    public TimeSpan StartTime { get; private set; }

    /// <summary>Lines of its output (stdout and stderr, the last 400) that contain the text.</summary>
    public List<string> OutputLines(string containing)
    {
        lock (_output) return _output.Where(l => l.Contains(containing, StringComparison.OrdinalIgnoreCase)).ToList();
    }

    /// <summary>The ready line, e.g. <c>miosa: ready api=http://127.0.0.1:1234 edge=http://127.0.0.1:1235</c>.</summary>
    public string? ReadyLine { get; private set; }

    public string OutputTail(int lines = 40)
    {
        lock (_output) return string.Join('\n', _output.TakeLast(lines));
    }

    /// <summary>The Miosa.Api.dll built next to the harness, else the Release build in the repository.</summary>
    public static string LocateDll(string? given)
    {
        if (given is not null) return File.Exists(given) ? given : throw new FileNotFoundException($"no {given}");
        var beside = Path.Combine(AppContext.BaseDirectory, "Miosa.Api.dll");
        if (File.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var built = Path.Combine(dir.FullName, "src", "Miosa.Api", "bin", "Release", "net10.0", "Miosa.Api.dll");
            if (File.Exists(built)) return built;
        }
        throw new FileNotFoundException("no Miosa.Api.dll next to the harness or under src/Miosa.Api/bin/Release; build Release first");
    }

    public async Task StartAsync(CancellationToken ct, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo("dotnet", [Dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(Dll)!,
        };
        info.Environment["MIOSA_DATA_DIR"] = DataDir;
        info.Environment["MIOSA_API_PORT"] = ApiPort.ToString();
        info.Environment["MIOSA_EDGE_PORT"] = EdgePort.ToString();
        info.Environment["MIOSA_AKKA_PORT"] = AkkaPort.ToString();
        info.Environment["MIOSA_INGRESS_PORT"] = IngressPort.ToString();
        info.Environment["MIOSA_EDGE_HTTPS_PORT"] = FreePort().ToString();
        info.Environment["MIOSA_CLUSTER_SECRET"] = ClusterSecret;
        info.Environment["MIOSA_ADMIN_TOKEN"] = "bench-admin-token";
        info.Environment["MIOSA_NODE_NAME"] = _name;
        foreach (var (name, value) in _environment) info.Environment[name] = value;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = Stopwatch.GetTimestamp();
        _process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Remember(e.Data);
            if (e.Data.StartsWith("miosa: ready", StringComparison.Ordinal))
            {
                ReadyLine = e.Data;
                ready.TrySetResult();
            }
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Remember(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var exited = _process.WaitForExitAsync(ct);
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(timeout ?? TimeSpan.FromSeconds(120), ct));
        if (first != ready.Task)
            throw new InvalidOperationException($"{_name} did not become ready ({(_process.HasExited ? $"exited {_process.ExitCode}" : "timed out")}):\n{OutputTail()}");
        StartTime = Stopwatch.GetElapsedTime(started);
    }

    /// <summary>An API client with the default organization's key.</summary>
    public HttpClient Client()
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 64,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        };
        var client = new HttpClient(handler) { BaseAddress = Api, Timeout = TimeSpan.FromMinutes(2) };
        var key = File.ReadAllText(Path.Combine(DataDir, "default-org.key")).Trim();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited)
                {
                    // Our own child (and its sandboxes' bwrap children), never anything found by name.
                    _process.Kill(entireProcessTree: true);
                    using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await _process.WaitForExitAsync(wait.Token);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
            {
                Console.Error.WriteLine($"bench: could not stop {_name} (pid {_process.Id}): {e.Message}");
            }
            _process.Dispose();
            _process = null;
        }
        // The node's sandbox volume (<data dir>/volume) stays mounted for a next start; this node is gone for good.
        foreach (var mount in MountsUnder(DataDir).Where(m => m == Path.Combine(DataDir, "volume")))
        {
            using var umount = Process.Start("umount", ["-l", mount]);
            await umount.WaitForExitAsync(CancellationToken.None);
        }
        for (var attempt = 0; attempt < 5 && Directory.Exists(DataDir); attempt++)
        {
            var mounts = MountsUnder(DataDir);
            if (mounts.Count > 0 && attempt >= 2)
            {
                // Still mounted once the node is gone (the host role's sandbox volume, a loop mount of
                // an image in this data dir): it is ours, unmount it, deepest first.
                foreach (var mount in mounts.OrderByDescending(m => m.Length)) await UnmountAsync(mount);
                mounts = MountsUnder(DataDir);
            }
            if (mounts.Count > 0)
            {
                if (attempt < 4)
                {
                    await Task.Delay(1000);
                    continue;
                }
                Console.Error.WriteLine($"bench: left {DataDir} in place: still mounted under it: {string.Join(", ", mounts.Take(5))}");
                break;
            }
            try
            {
                Directory.Delete(DataDir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt == 4) Console.Error.WriteLine($"bench: could not remove {DataDir}: {e.Message}");
                else await Task.Delay(1000);
            }
        }
    }

    private static async Task UnmountAsync(string mount)
    {
        try
        {
            using var umount = Process.Start(new ProcessStartInfo("umount", [mount]) { RedirectStandardError = true })!;
            var error = await umount.StandardError.ReadToEndAsync();
            await umount.WaitForExitAsync();
            if (umount.ExitCode != 0) Console.Error.WriteLine($"bench: umount {mount}: {error.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"bench: umount {mount}: {e.Message}");
        }
    }

    private void Remember(string line)
    {
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > OutputLimit) _output.Dequeue();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Mount points at or under the path: never delete through them.</summary>
    private static List<string> MountsUnder(string path)
    {
        var prefix = path.TrimEnd('/') + "/";
        return File.ReadLines("/proc/self/mountinfo")
            .Select(line => line.Split(' '))
            .Where(fields => fields.Length > 4)
            .Select(fields => fields[4].Replace("\\040", " ", StringComparison.Ordinal))
            .Where(mount => mount == path || mount.StartsWith(prefix, StringComparison.Ordinal))
            .ToList();
    }
}
