using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DnsClient;

namespace Miosa.Api.Tests;

/// <summary>
/// A real DNS server of the test's own: dnsmasq on a loopback port, serving the given CNAME records
/// (wildcards like "*.previews.acme.test" included). It never forwards a query anywhere.
/// </summary>
/// <remarks>
/// dnsmasq only serves wildcard CNAMEs from an authoritative zone, so every query arriving at 127.0.0.1
/// is answered in authoritative mode (--auth-server): the zones are the reserved TLD "test" plus the TLD of
/// each record, and names in them without a record get NXDOMAIN, like a real missing record. Anything else
/// is REFUSED. In this mode a CNAME's target need not be a name dnsmasq knows.
/// </remarks>
public sealed class DnsServer : IAsyncDisposable
{
    private const string Dnsmasq = "/usr/sbin/dnsmasq";

    private readonly string _dir;
    private Process? _process;
    private readonly StringBuilder _log = new();

    private DnsServer(string dir) => _dir = dir;

    public int Port { get; private set; }

    /// <summary>"127.0.0.1:port", as MIOSA_DNS_RESOLVER.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    public static async Task<DnsServer> StartAsync(params (string Name, string Target)[] cnames)
    {
        var server = new DnsServer(Directory.CreateTempSubdirectory("miosa-dns-").FullName);
        try
        {
            await server.LaunchAsync(cnames);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Restarts dnsmasq (on a new port: read <see cref="Endpoint"/> again) serving exactly these records.</summary>
    public async Task ReplaceRecordsAsync(params (string Name, string Target)[] cnames)
    {
        await StopAsync();
        await LaunchAsync(cnames);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task LaunchAsync((string Name, string Target)[] cnames)
    {
        // The free port is found, then released for dnsmasq: another process may take it in between, so retry.
        for (var attempt = 1; ; attempt++)
        {
            Port = FreePort();
            Start(cnames);
            try
            {
                await WaitUntilAnsweringAsync();
                return;
            }
            catch (InvalidOperationException e) when (attempt < 5 && e.Message.Contains("Address already in use"))
            {
                await StopAsync();
            }
        }
    }

    private void Start((string Name, string Target)[] cnames)
    {
        var zones = cnames.Select(c => c.Name.TrimEnd('.').Split('.')[^1].ToLowerInvariant()).Append("test").Distinct();
        var info = new ProcessStartInfo(Dnsmasq)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                "--no-daemon", // foreground, logs to stderr
                "--conf-file=/dev/null", // ignore /etc/dnsmasq.conf
                "--no-resolv", // no upstream servers from /etc/resolv.conf, and there is no --server: never forwards
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                $"--port={Port}", // UDP and TCP
                $"--pid-file={Path.Combine(_dir, "dnsmasq.pid")}",
                "--user=root", // stay root instead of switching to 'nobody'/'dnsmasq' (which may not exist in a container)
                "--log-queries",
                // Authoritative for queries arriving at 127.0.0.1; the glue name is only used in NS/SOA records.
                "--auth-server=ns.miosa.test,127.0.0.1",
            },
        };
        foreach (var zone in zones)
            info.ArgumentList.Add($"--auth-zone={zone}");
        foreach (var (name, target) in cnames)
            info.ArgumentList.Add($"--cname={name},{target}");

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Log(e.Data);
        process.ErrorDataReceived += (_, e) => Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private void Log(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    private async Task WaitUntilAnsweringAsync()
    {
        var client = new LookupClient(new LookupClientOptions(new IPEndPoint(IPAddress.Loopback, Port))
        {
            UseCache = false,
            Timeout = TimeSpan.FromMilliseconds(200),
            Retries = 0,
            ThrowDnsErrors = false,
        });
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            if (_process!.HasExited)
                throw new InvalidOperationException($"dnsmasq exited ({_process.ExitCode}): {LogText()}");
            try
            {
                // Any answer, NXDOMAIN included, means it is serving.
                await client.QueryAsync("miosa-ready.test", QueryType.A);
                return;
            }
            catch (Exception e) when (e is DnsResponseException or SocketException)
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"dnsmasq on port {Port} did not answer: {LogText()}", e);
                await Task.Delay(50);
            }
        }
    }

    private string LogText()
    {
        lock (_log) return _log.ToString();
    }

    private async Task StopAsync()
    {
        if (_process is not { } process) return;
        _process = null;
        if (!process.HasExited)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
        process.Dispose();
        lock (_log) _log.Clear();
    }

    /// <summary>A loopback port free for both UDP and TCP at the time of asking.</summary>
    public static int FreePort()
    {
        while (true)
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // TCP side taken: try another.
            }
        }
    }
}
