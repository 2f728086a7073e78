// Package metricstest flattens what an OpenTelemetry ManualReader collected, so tests can ask for
// one instrument's value under one attribute set. Tests only: it imports the SDK, which kastor
// itself does not.
package metricstest

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Point is one data point: a sum or gauge value, or a histogram's count and sum.
type Point struct {
	Attrs attribute.Set
	Value float64 // sum or gauge value; a histogram's sum
	Count uint64  // a histogram's count; 1 for sums and gauges
}

// Collection maps instrument names to their points.
type Collection map[string][]Point

// Collected flattens rm.
func Collected(rm metricdata.ResourceMetrics) Collection {
	c := Collection{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					c[m.Name] = append(c[m.Name], Point{Attrs: p.Attributes, Value: float64(p.Value), Count: 1})
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					c[m.Name] = append(c[m.Name], Point{Attrs: p.Attributes, Value: p.Value, Count: 1})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					c[m.Name] = append(c[m.Name], Point{Attrs: p.Attributes, Value: float64(p.Value), Count: 1})
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					c[m.Name] = append(c[m.Name], Point{Attrs: p.Attributes, Value: p.Value, Count: 1})
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					c[m.Name] = append(c[m.Name], Point{Attrs: p.Attributes, Value: float64(p.Sum), Count: p.Count})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					c[m.Name] = append(c[m.Name], Point{Attrs: p.Attributes, Value: p.Sum, Count: p.Count})
				}
			}
		}
	}
	return c
}

// Value is the value of name's point with exactly attrs (0 if there is none).
func (c Collection) Value(name string, attrs attribute.Set) float64 {
	for _, p := range c[name] {
		if p.Attrs.Equals(&attrs) {
			return p.Value
		}
	}
	return 0
}

// Sum adds name's values over every attribute set (a histogram's sums).
func (c Collection) Sum(name string) float64 {
	s := 0.0
	for _, p := range c[name] {
		s += p.Value
	}
	return s
}

// Count adds name's counts over every attribute set (a histogram's measurements).
func (c Collection) Count(name string) uint64 {
	n := uint64(0)
	for _, p := range c[name] {
		n += p.Count
	}
	return n
}

// CountWhere adds name's counts over the attribute sets that have key=value.
func (c Collection) CountWhere(name string, key attribute.Key, value string) uint64 {
	n := uint64(0)
	for _, p := range c[name] {
		if v, ok := p.Attrs.Value(key); ok && v.AsString() == value {
			n += p.Count
		}
	}
	return n
}

// SumWhere adds name's values over the attribute sets that have key=value.
func (c Collection) SumWhere(name string, key attribute.Key, value string) float64 {
	s := 0.0
	for _, p := range c[name] {
		if v, ok := p.Attrs.Value(key); ok && v.AsString() == value {
			s += p.Value
		}
	}
	return s
}
