using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;
using Miosa.Actors.Routing;

namespace Miosa.Actors.Deployments;

/// <summary>
/// One deployment: persists what was asked, runs each version's build through the
/// <see cref="IReleaseBuilder"/> off its mailbox, records the outcome, and publishes its route to
/// every edge whenever the live release changes. A build cut short by a crash ends failed
/// (<see cref="DeploymentState.InterruptedCode"/>) as soon as the entity recovers: never a version that stays queued.
/// </summary>
public sealed class DeploymentActor : EventSourcedEntity<DeploymentState>
{
    public const string Kind = "deployment";

    /// <summary>A build that has not ended by then fails: a static package of a large tree takes seconds.</summary>
    public static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _mediator;
    private readonly IReleaseBuilder _builder;
    private readonly Dictionary<string, ReleaseBuildRequest> _pending = [];

    public DeploymentActor(string deploymentId, IActorRef mediator, IReleaseBuilder builder)
        : base(Kind, deploymentId, DeploymentState.Empty(deploymentId))
    {
        _mediator = mediator;
        _builder = builder;
        Command<CreateDeployment>(c => Commit(State.Process(c), s => s.ToView(), PublishRoute));
        Command<GetDeployment>(c => Commit(State.Process(c), s => s.ToView()));
        Command<RecordDeploymentEgress>(c => Commit(State.Process(c), null));
        Command<DeleteDeployment>(c => Commit(State.Process(c), s => s.ToView(), PublishRoute));
        Command<PublishVersion>(c => Commit(State.Process(c), s => s.ToView(c.VersionId), e =>
        {
            if (e is not VersionQueued) return;
            _pending[c.VersionId] = new ReleaseBuildRequest(EntityId, c.VersionId, c.BuildId, c.SandboxId, c.Host, c.Mode, c.OutputDir);
            Self.Tell(new RecordBuildStarted(EntityId, c.VersionId, DateTimeOffset.UtcNow));
        }));
        Command<RecordBuildStarted>(c => Commit(State.Process(c), null, e =>
        {
            if (e is VersionBuildStarted && _pending.Remove(c.VersionId, out var request)) Build(request);
        }));
        Command<RecordBuildOutcome>(c => Commit(State.Process(c), null, e =>
        {
            if (e is VersionBuildFailed failed)
                _log.Warning("Deployment {0}: version {1} failed ({2}): {3}", EntityId, failed.VersionId, failed.ErrorCode, failed.Error);
            PublishRoute(e);
        }));
        Command<GetVersion>(c => Commit(State.Process(c), s => s.ToView(c.VersionId)));
        Command<GetBuildLog>(c => Commit(State.Process(c), s => s.ToBuildLog(c.BuildId)));
        Command<PromoteVersion>(c => Commit(State.Process(c), s => new ActiveVersionView(EntityId, s.ActiveVersionId!), PublishRoute));
        Command<RollbackDeployment>(c => Commit(State.Process(c), s => new ActiveVersionView(EntityId, s.ActiveVersionId!), PublishRoute));
    }

    protected override DeploymentState Apply(DeploymentState state, IMiosaEvent @event) => state.Apply(@event);

    /// <summary>Builds that were running when the node stopped end failed: the caller publishes again.</summary>
    protected override void OnRecovered()
    {
        foreach (var version in State.Unfinished)
        {
            var log = version.Log + "The node stopped during this build.\n";
            Self.Tell(new RecordBuildOutcome(EntityId, new ReleaseBuildOutcome(version.Id, null, null, DeploymentState.InterruptedCode,
                "The build was interrupted by a node restart; publish again.", log), DateTimeOffset.UtcNow));
        }
    }

    private void Build(ReleaseBuildRequest request)
    {
        var builder = _builder;
        RunAsync().PipeTo(Self);

        async Task<RecordBuildOutcome> RunAsync()
        {
            using var timeout = new CancellationTokenSource(BuildTimeout);
            try
            {
                var outcome = await builder.BuildAsync(request, timeout.Token).WaitAsync(BuildTimeout + TimeSpan.FromSeconds(5));
                return new RecordBuildOutcome(request.DeploymentId, outcome, DateTimeOffset.UtcNow);
            }
            catch (Exception e)
            {
                var error = e is TimeoutException or OperationCanceledException
                    ? $"The build did not end within {BuildTimeout.TotalMinutes} minutes."
                    : $"The build stopped unexpectedly ({e.GetType().Name}: {e.Message}).";
                return new RecordBuildOutcome(request.DeploymentId,
                    new ReleaseBuildOutcome(request.VersionId, null, null, "build_failed", error, error + "\n"), DateTimeOffset.UtcNow);
            }
        }
    }

    private void PublishRoute(IMiosaEvent e)
    {
        if (e is DeploymentCreated or DeploymentDeleted or ActiveVersionChanged) _mediator.PublishRoute(State.ToRoute());
    }

    public static Props PropsFor(string deploymentId, IActorRef mediator, IReleaseBuilder builder) =>
        Props.Create(() => new DeploymentActor(deploymentId, mediator, builder));
}
