using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;

namespace Miosa.Actors.Sandboxes;

/// <summary>
/// One sandbox: persists what was asked, then drives the fleet (place, start, destroy) and records
/// the outcome. A create is answered only once the sandbox is ready for exec.
/// </summary>
public sealed class SandboxActor : EventSourcedEntity<SandboxState>
{
    public const string Kind = "sandbox";
    private static readonly TimeSpan PlacementTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _fleet;
    private readonly List<IActorRef> _awaitingStart = [];

    public SandboxActor(string sandboxId, IActorRef fleet) : base(Kind, sandboxId, SandboxState.Empty(sandboxId))
    {
        _fleet = fleet;

        Command<CreateSandbox>(c =>
        {
            if (State.Exists && State.Status == SandboxStatus.Creating && State.VisibleTo(c.OrganizationId))
            {
                _awaitingStart.Add(Sender);
                return;
            }
            Commit(State.Process(c), State.Exists ? s => s.ToView() : null, e =>
            {
                if (e is not SandboxCreationRequested) return;
                _awaitingStart.Add(Sender);
                Place();
            });
        });
        Command<GetSandbox>(c => Commit(State.Process(c), s => s.ToView()));
        Command<RecordSandboxUsage>(c => Commit(State.Process(c), null));
        Command<DestroySandbox>(c => Commit(State.Process(c), s => s.ToView(), e =>
        {
            if (e is not SandboxDestroyed) return;
            AnswerWaiting(Rejection.Conflict("sandbox_destroyed", $"Sandbox {EntityId} was destroyed while starting."));
            TellHost(new DestroySandboxOnHost(EntityId));
        }));
        // A restarted host asks: start it again, delete it, or (still being created) leave it be.
        Command<ReconcileSandbox>(c => Sender.Tell(
            State.ShouldRunOn(c.Host) ? new StartSandboxOnHost(State.Spec!)
            : State.Exists && State.Status == SandboxStatus.Creating ? State.ToView()
            : new DestroySandboxOnHost(EntityId)));
        // ... and once it runs again, tells where (its ingress may have a new address).
        Command<RecordSandboxStarted>(c => Commit(State.Process(c), s => s.ToView()));

        // The placement flow, its replies piped back into the mailbox.
        Command<SandboxPlacement>(p => p.Agent.Ask<object>(new StartSandboxOnHost(State.Spec!), StartTimeout).PipeTo(Self));
        Command<SandboxStartedOnHost>(s =>
        {
            if (State.Status == SandboxStatus.Destroyed)
            {
                Sender.Tell(new DestroySandboxOnHost(EntityId));
                return;
            }
            Commit(State.Process(new RecordSandboxStarted(EntityId, s.Host, s.IngressUrl, DateTimeOffset.UtcNow)), null,
                _ => AnswerWaiting(State.ToView()));
            if (State.Status == SandboxStatus.Running) AnswerWaiting(State.ToView());
        });
        Command<SandboxStartFailedOnHost>(f => Fail($"Host {f.Host} could not start the sandbox: {f.Reason}"));
        Command<Rejection>(r => Fail(r.Detail, r));
        Command<Status.Failure>(f => Fail($"Starting the sandbox timed out ({f.Cause.GetType().Name})."));
        Command<SandboxDestroyedOnHost>(_ => { });
    }

    protected override SandboxState Apply(SandboxState state, IMiosaEvent @event) => state.Apply(@event);

    /// <summary>A creation cut short by a crash goes on after recovery.</summary>
    protected override void OnRecovered()
    {
        if (State.Exists && State.Status == SandboxStatus.Creating) Place();
    }

    private void Place() =>
        _fleet.Ask<object>(new PlaceSandbox(EntityId, State.Spec!.Resources), PlacementTimeout).PipeTo(Self);

    private void Fail(string reason, Rejection? rejection = null)
    {
        if (State.Status != SandboxStatus.Creating) return;
        _log.Warning("Sandbox {0} failed to start: {1}", EntityId, reason);
        Commit(State.Process(new RecordSandboxFailed(EntityId, reason, DateTimeOffset.UtcNow)), null,
            _ => AnswerWaiting(rejection ?? new Rejection("sandbox_start_failed", reason, 503)));
    }

    private void AnswerWaiting(object answer)
    {
        foreach (var waiting in _awaitingStart) waiting.Tell(answer);
        _awaitingStart.Clear();
    }

    private void TellHost(object message)
    {
        if (State.Host is not { } host) return;
        var self = Self;
        _fleet.Ask<HostFound>(new FindHost(host), PlacementTimeout).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully && t.Result.Agent is { } agent) agent.Tell(message, self);
        }, TaskScheduler.Default);
    }

    public static Props PropsFor(string sandboxId, IActorRef fleet) => Props.Create(() => new SandboxActor(sandboxId, fleet));
}
