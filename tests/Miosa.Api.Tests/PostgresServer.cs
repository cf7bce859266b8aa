using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Miosa.Api.Tests;

/// <summary>A real PostgreSQL server of the test's own: initdb into a temp dir, started on a loopback port.</summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _dataDir;

    private PostgresServer(string bin, string dataDir, int port)
    {
        _bin = bin;
        _dataDir = dataDir;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database}";

    public static async Task<PostgresServer> StartAsync()
    {
        var bin = Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin")).First(d => File.Exists(Path.Combine(d, "pg_ctl")));
        var dataDir = Directory.CreateTempSubdirectory("miosa-pg-").FullName;
        await RunAsync("chown", "postgres", dataDir);
        var server = new PostgresServer(bin, dataDir, FreePort());
        // PostgreSQL refuses to run as root: its tools run as the postgres user.
        await server.AsPostgresAsync("initdb", "-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync");
        await server.AsPostgresAsync("pg_ctl", "-D", dataDir, "-w", "-l", Path.Combine(dataDir, "log"),
            "-o", $"-p {server.Port} -k {dataDir} -c listen_addresses=127.0.0.1 -c fsync=off", "start");
        return server;
    }

    public Task CreateDatabaseAsync(string name) =>
        RunAsync("psql", "-h", "127.0.0.1", "-p", Port.ToString(), "-U", "postgres", "-c", $"CREATE DATABASE {name}");

    public async ValueTask DisposeAsync()
    {
        await AsPostgresAsync("pg_ctl", "-D", _dataDir, "-m", "immediate", "stop");
        Directory.Delete(_dataDir, recursive: true);
    }

    private Task AsPostgresAsync(string tool, params string[] args) =>
        RunAsync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", Path.Combine(_bin, tool), .. args]);

    private static async Task RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await output}{await error}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
