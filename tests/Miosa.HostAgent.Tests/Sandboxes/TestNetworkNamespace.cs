using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>
/// A network namespace a test makes for itself (<c>ip netns add</c>): loopback and a veth pair whose
/// two ends both stay inside, the given addresses on one end. Nothing in it routes anywhere else,
/// so a packet sent in it never leaves it. Servers listen in it through <see cref="Listen"/>.
/// Deleting it (dispose) also takes its interfaces; listeners are closed first.
/// </summary>
public sealed class TestNetworkNamespace : IAsyncDisposable
{
    private const int CloneNewNet = 0x40000000;
    private readonly ConcurrentBag<TestServer> _servers = [];

    private TestNetworkNamespace(string name) => Name = name;

    public string Name { get; }

    /// <summary>The namespace's file, for <c>nsenter --net=</c> and <c>EgressNetworkNamespace</c>.</summary>
    public string Path => "/run/netns/" + Name;

    /// <summary>Makes the namespace with <paramref name="addresses"/> (CIDR, e.g. 203.0.113.10/24) on its veth.</summary>
    public static async Task<TestNetworkNamespace> CreateAsync(params string[] addresses)
    {
        var ns = new TestNetworkNamespace("miosa-test-" + Guid.NewGuid().ToString("N")[..10]);
        await IpAsync("netns", "add", ns.Name);
        try
        {
            await IpAsync("-n", ns.Name, "link", "set", "lo", "up");
            await IpAsync("-n", ns.Name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1");
            foreach (var address in addresses)
            {
                await IpAsync("-n", ns.Name, "addr", "add", address, "dev", "veth0");
            }

            await IpAsync("-n", ns.Name, "link", "set", "veth0", "up");
            await IpAsync("-n", ns.Name, "link", "set", "veth1", "up");
            return ns;
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A TCP server inside the namespace (port 0: any free one) that counts its connections and
    /// answers each HTTP request with <paramref name="body"/>.
    /// </summary>
    public TestServer Listen(IPAddress address, int port = 0, string body = "ok")
    {
        TcpListener? listener = null;
        Exception? failure = null;
        // setns moves only the calling thread: a thread of its own opens the socket there and ends.
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new IOException($"setns into {Path} failed (errno {Marshal.GetLastPInvokeError()}).");
                }

                listener = new TcpListener(address, port);
                listener.Start();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw failure;
        }

        var server = new TestServer(listener!, body);
        _servers.Add(server);
        return server;
    }

    /// <summary>Runs a program inside the namespace (as root).</summary>
    public Task<string> RunAsync(params string[] command) => RunProgramAsync("ip", ["netns", "exec", Name, .. command]);

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            server.Dispose();
        }

        try
        {
            await IpAsync("netns", "delete", Name);
        }
        catch (InvalidOperationException)
        {
            // Already gone (a failed create).
        }
    }

    private static Task<string> IpAsync(params string[] args) => RunProgramAsync("ip", args);

    internal static async Task<string> RunProgramAsync(string program, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static extern int SetNs(int fd, int nsType);
}

/// <summary>A listener in a test namespace: counts connections, answers HTTP with a fixed body.</summary>
public sealed class TestServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly byte[] _response;
    private readonly CancellationTokenSource _stop = new();
    private int _connections;

    internal TestServer(TcpListener listener, string body)
    {
        _listener = listener;
        _response = Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}");
        _ = ServeAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = AnswerAsync(socket);
        }
    }

    private async Task AnswerAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var buffer = new byte[4096];
                var request = new StringBuilder();
                while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await socket.ReceiveAsync(buffer, timeout.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    request.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                await socket.SendAsync(_response, timeout.Token);
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
            }
        }
    }
}
