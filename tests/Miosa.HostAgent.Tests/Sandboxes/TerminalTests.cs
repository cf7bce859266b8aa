using System.Text;
using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Tests.Sandboxes;

/// <summary>Login shells on pseudo-terminals through the sandbox agent, in one shared sandbox.</summary>
public sealed class TerminalTests(TerminalTests.Sandbox sandbox) : IClassFixture<TerminalTests.Sandbox>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public sealed class Sandbox : IAsyncLifetime
    {
        public SandboxFixture Fixture { get; } = new();

        public SandboxAgentClient Client { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            await Fixture.InitializeAsync();
            Client = await Fixture.StartAsync(SandboxFixture.Spec(env: new Dictionary<string, string> { ["SPEC_VAR"] = "from-spec" }));
        }

        public Task DisposeAsync() => Fixture.DisposeAsync();
    }

    private SandboxAgentClient Client => sandbox.Client;

    [Fact]
    public async Task A_shell_runs_commands_as_the_sandbox_user_in_the_workspace_with_its_environment()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var terminal = await Client.OpenTerminalAsync(TerminalRequest.LoginShell(80, 24), cts.Token);
        var screen = new Screen(terminal);

        await terminal.WriteAsync("echo $((6*7))\n"u8.ToArray(), cts.Token);
        await screen.WaitForAsync("42\r\n", cts.Token);
        await terminal.WriteAsync("echo \"<$(id -u):$PWD:$TERM:$SPEC_VAR:$(tty):$-:$(shopt -q login_shell && echo login)>\"\n"u8.ToArray(), cts.Token);

        // A login shell, interactive (i in $-), on its own terminal, with the sandbox's environment.
        var line = await screen.WaitForMatchAsync(@"<1000:/workspace:xterm-256color:from-spec:/dev/pts/\d+:[a-zA-Z]*i[a-zA-Z]*:login>", cts.Token);
        // Job control works: the terminal is the shell's controlling terminal.
        Assert.DoesNotContain("no job control", line);
    }

    [Fact]
    public async Task Resizing_changes_what_the_shell_sees()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var terminal = await Client.OpenTerminalAsync(TerminalRequest.LoginShell(100, 30), cts.Token);
        var screen = new Screen(terminal);

        await terminal.WriteAsync("stty size\n"u8.ToArray(), cts.Token);
        await screen.WaitForAsync("30 100\r\n", cts.Token);
        await terminal.ResizeAsync(132, 50, cts.Token);
        await terminal.WriteAsync("stty size; echo \"cols=$COLUMNS\"\n"u8.ToArray(), cts.Token);

        await screen.WaitForAsync("50 132\r\n", cts.Token);
        // bash itself saw SIGWINCH and updated $COLUMNS.
        await screen.WaitForAsync("cols=132\r\n", cts.Token);
    }

    [Fact]
    public async Task Exit_reports_the_shells_exit_code_after_its_output_and_ends_its_jobs()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var terminal = await Client.OpenTerminalAsync(TerminalRequest.LoginShell(80, 24), cts.Token);
        var screen = new Screen(terminal);

        await terminal.WriteAsync("sleep 4545 &\n"u8.ToArray(), cts.Token);
        await WaitForProcessesAsync("sleep 4545", 1);
        await terminal.WriteAsync("echo bye; exit 3\n"u8.ToArray(), cts.Token);

        var exit = await screen.WaitForExitAsync(cts.Token);
        Assert.Equal(3, exit);
        Assert.Contains("bye\r\n", screen.Text);
        Assert.Equal(3, (await terminal.ReadAsync(cts.Token)).ExitCode);
        // The session ended with its shell: its background job did not outlive it.
        await WaitForProcessesAsync("sleep 4545", 0);
    }

    [Fact]
    public async Task Closing_the_connection_kills_the_shell_and_everything_it_started()
    {
        using var cts = new CancellationTokenSource(Patience);
        var terminal = await Client.OpenTerminalAsync(TerminalRequest.LoginShell(80, 24), cts.Token);
        var screen = new Screen(terminal);
        await terminal.WriteAsync("echo rea''dy\n"u8.ToArray(), cts.Token);
        await screen.WaitForAsync("ready\r\n", cts.Token);

        // A job that ignores hang-ups, one in the background and one in the foreground.
        await terminal.WriteAsync("nohup sleep 4242 >/dev/null 2>&1 &\nsleep 4343\n"u8.ToArray(), cts.Token);
        await WaitForProcessesAsync("sleep 4242", 1);
        await WaitForProcessesAsync("sleep 4343", 1);
        Assert.Equal("yes", await AliveAsync(terminal.Pid));

        await terminal.DisposeAsync();

        await WaitForProcessesAsync("sleep 4242", 0);
        await WaitForProcessesAsync("sleep 4343", 0);
        var until = DateTime.UtcNow + Patience;
        while (await AliveAsync(terminal.Pid) == "yes" && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.Equal("no", await AliveAsync(terminal.Pid));
    }

    [Fact]
    public async Task A_missing_shell_says_so_on_the_terminal_and_exits_127()
    {
        using var cts = new CancellationTokenSource(Patience);
        var request = new TerminalRequest(["/no/such/shell"], new Dictionary<string, string>(), 80, 24);
        await using var terminal = await Client.OpenTerminalAsync(request, cts.Token);
        var screen = new Screen(terminal);

        Assert.Equal(127, await screen.WaitForExitAsync(cts.Token));
        Assert.Contains("/no/such/shell: command not found", screen.Text);
    }

    [Fact]
    public async Task Exec_and_terminals_run_side_by_side()
    {
        using var cts = new CancellationTokenSource(Patience);
        await using var one = await Client.OpenTerminalAsync(TerminalRequest.LoginShell(80, 24), cts.Token);
        await using var two = await Client.OpenTerminalAsync(TerminalRequest.LoginShell(80, 24), cts.Token);
        var screenOne = new Screen(one);
        var screenTwo = new Screen(two);

        await one.WriteAsync("echo one-$((1+1))\n"u8.ToArray(), cts.Token);
        await two.WriteAsync("echo two-$((2+2))\n"u8.ToArray(), cts.Token);
        var exec = await Client.RunAsync("echo exec");

        await screenOne.WaitForAsync("one-2\r\n", cts.Token);
        await screenTwo.WaitForAsync("two-4\r\n", cts.Token);
        Assert.Equal("exec\n", exec.Stdout);
        Assert.DoesNotContain("two-4", screenOne.Text);
    }

    /// <summary>Waits until exactly <paramref name="count"/> processes of the sandbox run <paramref name="commandLine"/>.</summary>
    private async Task WaitForProcessesAsync(string commandLine, int count)
    {
        var until = DateTime.UtcNow + Patience;
        var seen = -1;
        while (DateTime.UtcNow < until)
        {
            var run = await Client.RunAsync("for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done");
            seen = run.Stdout.Split('\n').Count(l => l.TrimEnd() == commandLine);
            if (seen == count) return;
            await Task.Delay(50);
        }

        Assert.Fail($"expected {count} processes '{commandLine}', saw {seen}");
    }

    private async Task<string> AliveAsync(int pid) =>
        (await Client.RunAsync($"[ -e /proc/{pid} ] && echo yes || echo no")).Stdout.Trim();

    /// <summary>Everything a terminal printed so far.</summary>
    private sealed class Screen(SandboxTerminalSession terminal)
    {
        private readonly StringBuilder _text = new();

        public string Text => _text.ToString();

        public async Task WaitForAsync(string expected, CancellationToken ct)
        {
            while (!Text.Contains(expected, StringComparison.Ordinal))
            {
                await ReadAsync(ct, $"'{expected}'");
            }
        }

        public async Task<string> WaitForMatchAsync(string pattern, CancellationToken ct)
        {
            while (!System.Text.RegularExpressions.Regex.IsMatch(Text, pattern))
            {
                await ReadAsync(ct, pattern);
            }

            return Text;
        }

        public async Task<int> WaitForExitAsync(CancellationToken ct)
        {
            while (true)
            {
                var next = await terminal.ReadAsync(ct);
                if (next.ExitCode is { } code) return code;
                _text.Append(Encoding.UTF8.GetString(next.Data.Span));
            }
        }

        private async Task ReadAsync(CancellationToken ct, string waitingFor)
        {
            try
            {
                var next = await terminal.ReadAsync(ct);
                Assert.False(next.Exited, $"the shell exited ({next.ExitCode}) before printing {waitingFor}:\n{Text}");
                _text.Append(Encoding.UTF8.GetString(next.Data.Span));
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"no {waitingFor} on the terminal:\n{Text}");
            }
        }
    }
}
