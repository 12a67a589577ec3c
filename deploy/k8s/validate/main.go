// Command validate checks rendered Kubernetes manifests (`kubectl kustomize <overlay> | validate`):
// every object is decoded strictly with the official API types (an unknown or misspelt field
// fails), then the deployment's promises are checked: no container runs as root or can escalate,
// root file systems are read-only with every capability dropped, the router's NetworkPolicy admits
// only named peers, its HorizontalPodAutoscaler keeps 3..10 replicas at 70 % CPU, and the router
// has probes, resources, HOST=0.0.0.0 and a PodDisruptionBudget.
//
// Output: a JSON summary on stdout; each problem on stderr; exit status 1 when any was found.
// With -objects the decoded objects are printed instead of the summary (tests mutate them and
// feed them back: JSON is YAML).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// routerName is the app.kubernetes.io/name label of the router's pods.
const routerName = "trino-router"

// The autoscaling promise of the design document (section 6.1).
const (
	hpaMinReplicas = 3
	hpaMaxReplicas = 10
	hpaCPUPercent  = 70
)

type object struct {
	gvk schema.GroupVersionKind
	obj runtime.Object
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, autoscalingv2.AddToScheme, corev1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

// decode splits the YAML stream and decodes each document strictly into its API type.
func decode(input io.Reader, scheme *runtime.Scheme) ([]object, []string) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	var objects []object
	var problems []string
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("document %d: %v", index, err))
			break
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			problems = append(problems, fmt.Sprintf("document %d: %v", index, err))
			continue
		}
		gvk := schema.FromAPIVersionAndKind(meta.APIVersion, meta.Kind)
		obj, err := scheme.New(gvk)
		if err != nil {
			problems = append(problems, fmt.Sprintf("document %d: unknown kind %s", index, gvk))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			problems = append(problems, fmt.Sprintf("%s (document %d): %v", meta.Kind, index, err))
			continue
		}
		objects = append(objects, object{gvk: gvk, obj: obj})
	}
	return objects, problems
}

func name(o object) string {
	accessor, _ := o.obj.(metav1.Object)
	return o.gvk.Kind + "/" + accessor.GetName()
}

func isRouter(labels map[string]string) bool {
	return labels["app.kubernetes.io/name"] == routerName
}

// checkPod checks a pod template: nobody runs as root, escalates, writes the root file system or
// keeps a capability.
func checkPod(owner string, spec corev1.PodSpec) []string {
	var problems []string
	podSC := spec.SecurityContext
	if podSC == nil || podSC.RunAsNonRoot == nil || !*podSC.RunAsNonRoot {
		problems = append(problems, owner+": pod securityContext.runAsNonRoot must be true")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		problems = append(problems, owner+": host namespaces are not allowed")
	}
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range containers {
		where := owner + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			problems = append(problems, where+": no securityContext")
			continue
		}
		user := sc.RunAsUser
		if user == nil && podSC != nil {
			user = podSC.RunAsUser
		}
		if user == nil || *user == 0 {
			problems = append(problems, where+": runs as root (runAsUser unset or 0)")
		}
		if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			problems = append(problems, where+": runAsNonRoot is false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			problems = append(problems, where+": privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			problems = append(problems, where+": allowPrivilegeEscalation must be false")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			problems = append(problems, where+": readOnlyRootFilesystem must be true")
		}
		dropsAll := false
		if sc.Capabilities != nil {
			for _, capability := range sc.Capabilities.Drop {
				dropsAll = dropsAll || capability == "ALL"
			}
			if len(sc.Capabilities.Add) > 0 {
				problems = append(problems, where+": adds capabilities")
			}
		}
		if !dropsAll {
			problems = append(problems, where+": must drop ALL capabilities")
		}
	}
	return problems
}

// checkRouterContainer checks the router's own promises: probes, resources, HOST=0.0.0.0.
func checkRouterContainer(owner string, spec corev1.PodSpec) []string {
	var problems []string
	for _, c := range spec.Containers {
		if c.Name != routerName {
			continue
		}
		where := owner + " container " + c.Name
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil ||
			c.LivenessProbe.HTTPGet.Path != "/healthz" {
			problems = append(problems, where+": livenessProbe must GET /healthz")
		}
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil ||
			c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			problems = append(problems, where+": readinessProbe must GET /readyz")
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
			c.Resources.Limits.Memory().IsZero() {
			problems = append(problems, where+": needs cpu/memory requests and a memory limit")
		}
		host := ""
		for _, env := range c.Env {
			if env.Name == "HOST" {
				host = env.Value
			}
		}
		if host != "0.0.0.0" {
			problems = append(problems, where+": env HOST must be 0.0.0.0")
		}
		return problems
	}
	return append(problems, owner+": no container named "+routerName)
}

// checkPeers rejects a NetworkPolicy rule that admits everyone: no peers at all, an empty peer, a
// bare empty podSelector (the whole namespace), an empty namespaceSelector without a podSelector
// (every pod of every namespace) or an ipBlock of the whole address space.
func checkPeers(where string, peers []networkingv1.NetworkPolicyPeer) []string {
	if len(peers) == 0 {
		return []string{where + ": no peers (open to everyone)"}
	}
	var problems []string
	for _, peer := range peers {
		emptyPods := peer.PodSelector != nil && len(peer.PodSelector.MatchLabels) == 0 &&
			len(peer.PodSelector.MatchExpressions) == 0
		emptyNamespaces := peer.NamespaceSelector != nil &&
			len(peer.NamespaceSelector.MatchLabels) == 0 &&
			len(peer.NamespaceSelector.MatchExpressions) == 0
		switch {
		case peer.IPBlock != nil && (peer.IPBlock.CIDR == "0.0.0.0/0" || peer.IPBlock.CIDR == "::/0"):
			problems = append(problems, where+": ipBlock "+peer.IPBlock.CIDR+" admits everyone")
		case peer.IPBlock != nil:
		case peer.PodSelector == nil && peer.NamespaceSelector == nil:
			problems = append(problems, where+": empty peer admits everyone")
		case peer.PodSelector == nil && emptyNamespaces, emptyPods && peer.NamespaceSelector == nil,
			emptyPods && emptyNamespaces:
			problems = append(problems, where+": peer selects every pod")
		}
	}
	return problems
}

func checkNetworkPolicy(o object, np *networkingv1.NetworkPolicy) []string {
	var problems []string
	for i, rule := range np.Spec.Ingress {
		problems = append(problems, checkPeers(fmt.Sprintf("%s ingress[%d]", name(o), i), rule.From)...)
	}
	for i, rule := range np.Spec.Egress {
		problems = append(problems, checkPeers(fmt.Sprintf("%s egress[%d]", name(o), i), rule.To)...)
	}
	return problems
}

func checkHPA(o object, hpa *autoscalingv2.HorizontalPodAutoscaler) []string {
	var problems []string
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != hpaMinReplicas ||
		hpa.Spec.MaxReplicas != hpaMaxReplicas {
		problems = append(problems, fmt.Sprintf("%s: replicas must be %d..%d", name(o),
			hpaMinReplicas, hpaMaxReplicas))
	}
	cpu := false
	for _, metric := range hpa.Spec.Metrics {
		r := metric.Resource
		if metric.Type == autoscalingv2.ResourceMetricSourceType && r != nil && r.Name == "cpu" &&
			r.Target.Type == autoscalingv2.UtilizationMetricType && r.Target.AverageUtilization != nil &&
			*r.Target.AverageUtilization == hpaCPUPercent {
			cpu = true
		}
	}
	if !cpu || len(hpa.Spec.Metrics) != 1 {
		problems = append(problems, fmt.Sprintf("%s: must scale on CPU utilization %d %% only",
			name(o), hpaCPUPercent))
	}
	return problems
}

func selects(selector map[string]string, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for key, value := range selector {
		if labels[key] != value {
			return false
		}
	}
	return true
}

// check runs every policy over the decoded objects.
func check(objects []object) []string {
	var problems []string
	deployments := map[string]*appsv1.Deployment{}
	var routerPods []map[string]string
	hpaTargets := map[string]bool{}
	var policies []*networkingv1.NetworkPolicy
	var budgets []*policyv1.PodDisruptionBudget
	for _, o := range objects {
		switch obj := o.obj.(type) {
		case *appsv1.Deployment:
			deployments[obj.Name] = obj
			problems = append(problems, checkPod(name(o), obj.Spec.Template.Spec)...)
			if isRouter(obj.Spec.Template.Labels) {
				routerPods = append(routerPods, obj.Spec.Template.Labels)
				problems = append(problems, checkRouterContainer(name(o), obj.Spec.Template.Spec)...)
			}
		case *appsv1.StatefulSet:
			problems = append(problems, checkPod(name(o), obj.Spec.Template.Spec)...)
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpaTargets[obj.Spec.ScaleTargetRef.Name] = true
			problems = append(problems, checkHPA(o, obj)...)
		case *networkingv1.NetworkPolicy:
			policies = append(policies, obj)
			problems = append(problems, checkNetworkPolicy(o, obj)...)
		case *policyv1.PodDisruptionBudget:
			budgets = append(budgets, obj)
		}
	}
	for deploymentName, deployment := range deployments {
		if !isRouter(deployment.Spec.Template.Labels) {
			continue
		}
		if !hpaTargets[deploymentName] {
			problems = append(problems, "Deployment/"+deploymentName+": no HorizontalPodAutoscaler")
		}
		labels := deployment.Spec.Template.Labels
		ingress, egress, budget := false, false, false
		for _, np := range policies {
			if selects(np.Spec.PodSelector.MatchLabels, labels) {
				for _, t := range np.Spec.PolicyTypes {
					ingress = ingress || t == networkingv1.PolicyTypeIngress
					egress = egress || t == networkingv1.PolicyTypeEgress
				}
			}
		}
		for _, pdb := range budgets {
			budget = budget || (pdb.Spec.Selector != nil && selects(pdb.Spec.Selector.MatchLabels, labels))
		}
		if !ingress || !egress {
			problems = append(problems, "Deployment/"+deploymentName+
				": not isolated by a NetworkPolicy for both Ingress and Egress")
		}
		if !budget {
			problems = append(problems, "Deployment/"+deploymentName+": no PodDisruptionBudget")
		}
	}
	if len(routerPods) == 0 {
		problems = append(problems, "no router Deployment (label app.kubernetes.io/name="+routerName+")")
	}
	return problems
}

func main() {
	printObjects := flag.Bool("objects", false, "print the decoded objects as JSON instead")
	flag.Parse()
	objects, problems := decode(os.Stdin, newScheme())
	problems = append(problems, check(objects)...)
	if *printObjects {
		items := make([]runtime.Object, 0, len(objects))
		for _, o := range objects {
			items = append(items, o.obj)
		}
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"items": items})
	} else {
		kinds := map[string]int{}
		var names []string
		for _, o := range objects {
			kinds[o.gvk.Kind]++
			names = append(names, name(o))
		}
		sort.Strings(names)
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
			"objects": len(objects), "kinds": kinds, "names": names, "problems": len(problems),
		})
	}
	for _, problem := range problems {
		fmt.Fprintln(os.Stderr, problem)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}
