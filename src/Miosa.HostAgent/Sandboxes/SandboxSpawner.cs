using System.Collections.Concurrent;
using System.Diagnostics;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// Starts sandbox processes from one thread that lives as long as this process. bwrap's
/// --die-with-parent (PR_SET_PDEATHSIG) fires when the thread that forked it exits, not the
/// process, and thread-pool threads come and go: a sandbox started from one would die with it.
/// </summary>
internal static class SandboxSpawner
{
    private static readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Result)> Requests = [];

    static SandboxSpawner()
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "miosa-sandbox-spawner" };
        thread.Start();
    }

    public static Task<Process> StartAsync(ProcessStartInfo start)
    {
        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((start, result));
        return result.Task;
    }

    private static void Run()
    {
        foreach (var (start, result) in Requests.GetConsumingEnumerable())
        {
            try
            {
                result.SetResult(Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned no process."));
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        }
    }
}
