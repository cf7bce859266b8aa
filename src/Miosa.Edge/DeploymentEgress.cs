using System.Collections.Concurrent;
using Akka.Actor;
using Miosa.Actors.Deployments;

namespace Miosa.Edge;

/// <summary>Bytes this edge served per deployment since the last report (usage: egress).</summary>
public sealed class DeploymentEgress
{
    private readonly ConcurrentDictionary<string, long> _bytes = new();

    public void Add(string deploymentId, long bytes)
    {
        if (bytes > 0) _bytes.AddOrUpdate(deploymentId, bytes, (_, b) => b + bytes);
    }

    /// <summary>Every deployment's count since the last call, each byte once.</summary>
    public IReadOnlyList<(string DeploymentId, long Bytes)> Take()
    {
        var taken = new List<(string, long)>();
        foreach (var id in _bytes.Keys)
        {
            if (_bytes.TryRemove(id, out var bytes) && bytes > 0) taken.Add((id, bytes));
        }
        return taken;
    }
}

/// <summary>
/// Tells each deployment, every usage interval, what this edge served for it: one window per edge
/// (named by the node), so several edges' counts add up and a resent window is not counted twice.
/// </summary>
public sealed class DeploymentEgressReporter : ReceiveActor, IWithTimers
{
    private DateTimeOffset _windowStart = DateTimeOffset.UtcNow;

    public DeploymentEgressReporter(DeploymentEgress egress, IActorRef deployments, string edge, TimeSpan interval)
    {
        Receive<Report>(_ =>
        {
            var end = DateTimeOffset.UtcNow;
            foreach (var (id, bytes) in egress.Take())
                deployments.Tell(new RecordDeploymentEgress(id, edge, _windowStart, end, bytes));
            _windowStart = end;
        });
        Timers.StartPeriodicTimer("report", Report.Instance, interval);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props PropsFor(DeploymentEgress egress, IActorRef deployments, string edge, TimeSpan interval) =>
        Props.Create(() => new DeploymentEgressReporter(egress, deployments, edge, interval));

    private sealed class Report
    {
        public static readonly Report Instance = new();
    }
}
